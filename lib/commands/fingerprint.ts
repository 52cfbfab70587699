/**
 * `chatsecure fingerprint [--serve | --user NAME]`: prints the relay's key fingerprint, or a
 * user's identity fingerprint, alone on a line, so scripts can pass it to --server-fingerprint.
 */
import { fingerprint } from '../crypto/primitives';
import { ChatError } from '../errors';
import { resolveDataDir, serverDir } from '../paths';
import { loadRelayKey } from '../server/relay-key';
import type { CommonOptions } from './options';

export interface FingerprintOptions extends CommonOptions {
  serve: boolean;
  user?: string;
}

/** The relay's key fingerprint (`SHA256:...`), or `storage_failed` when there is no key yet. */
export function relayFingerprint(dataDir: string): string {
  const key = loadRelayKey(serverDir(dataDir));
  if (!key) {
    throw new ChatError(
      'storage_failed',
      `there is no relay key in ${serverDir(dataDir)} yet; run chatsecure --serve once`,
    );
  }
  return fingerprint(key.publicKey);
}

export async function printFingerprint(opts: FingerprintOptions): Promise<void> {
  const dataDir = resolveDataDir(opts.dataDir);
  if (opts.user !== undefined) {
    const { loadPublicIdentity } = await import('../client/identity-store.js');
    const pub = loadPublicIdentity(dataDir, opts.user);
    if (!pub)
      throw new ChatError('storage_failed', `there is no identity for ${opts.user} in ${dataDir} yet`);
    process.stdout.write(`${fingerprint(pub.dhKey)}\n`);
    return;
  }
  process.stdout.write(`${relayFingerprint(dataDir)}\n`);
}
