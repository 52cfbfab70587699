/**
 * User names (PROTOCOL.md section 3): `^[A-Za-z0-9_.-]{1,32}$`, except `.` and `..` (a name is
 * also a directory under `users/`, and those two are not). One rule for the relay, the client and
 * the commands. The directory, the pins, the associated data and the safety number use
 * `canonName(name)`, its ASCII lowercase (never a locale lowercase); the display keeps the case
 * the user registered.
 */
import { ChatError } from './errors';

export const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;
export const NAME_MAX_LEN = 32;
/** The rule in words, for error messages. */
export const NAME_RULE = 'a name is 1 to 32 letters, digits, "_", "." or "-", and not "." or ".."';

export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name) && name !== '.' && name !== '..';
}

const CAPITAL = /[A-Z]/;

/**
 * ASCII lowercase; the pattern admits nothing else, so this is exact. A name without a capital
 * is its own canonical name: no replace with a callback (the relay canonicalises names twice a
 * message, issue 12).
 */
export function canonName(name: string): string {
  if (!CAPITAL.test(name)) return name;
  return name.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

export function checkName(name: unknown): string {
  if (!isValidName(name)) throw new ChatError('bad_name', NAME_RULE);
  return name;
}
