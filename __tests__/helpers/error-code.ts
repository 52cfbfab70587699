import { isChatError } from '../../lib/errors';

/** The ChatError code `fn` throws, undefined if it returns; any other exception fails the test. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (isChatError(err)) return err.code;
    throw err;
  }
  return undefined;
}
