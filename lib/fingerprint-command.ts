/**
 * `chatsecure fingerprint [--serve | --user NAME]`: prints the relay's key fingerprint, or a
 * user's identity fingerprint, alone on a line, so scripts can pass it to --server-fingerprint.
 */
import type { CommonOptions } from './cli';
import { fingerprint } from './crypto/primitives';
import { ChatError } from './errors';
import { resolveDataDir, serverDir } from './paths';
import { loadRelayKey } from './server/relay-key';

export async function printFingerprint(
  opts: CommonOptions & { serve: boolean; user?: string },
): Promise<void> {
  const dataDir = resolveDataDir(opts.dataDir);
  if (opts.user !== undefined) {
    const { loadPublicIdentity } = await import('./client/identity-store.js');
    const pub = loadPublicIdentity(dataDir, opts.user);
    if (!pub)
      throw new ChatError('storage_failed', `there is no identity for ${opts.user} in ${dataDir} yet`);
    process.stdout.write(`${fingerprint(pub.dhKey)}\n`);
    return;
  }
  const key = loadRelayKey(serverDir(dataDir));
  if (!key) {
    throw new ChatError(
      'storage_failed',
      `there is no relay key in ${serverDir(dataDir)} yet; run chatsecure --serve once`,
    );
  }
  process.stdout.write(`${fingerprint(key.publicKey)}\n`);
}
