/**
 * The real binary: `chatsecure --serve` on a loopback port, a secure handshake from a client,
 * ping/pong, the key kept with mode 0600 and reused on restart, a clean stop on SIGTERM/SIGINT.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fingerprint } from '../../lib/crypto/primitives';
import { connectSecureChannel } from '../../lib/net/secure-channel';
import { parseRelayMessage } from '../../lib/net/messages';
import { createIdentity } from '../../lib/crypto/identity';
import { toBase64 } from '../../lib/crypto/primitives';
import { dial, loginClient, startRelayProcess, tempDir } from '../helpers/relay-harness';

it('starts, prints its fingerprint, answers ping over a secure session, and stops on SIGTERM', async () => {
  const dataDir = tempDir();
  const relay = await startRelayProcess(dataDir);
  try {
    expect(relay.stdout()).toMatch(/listening on 127\.0\.0\.1:\d+/);
    const keyFile = path.join(dataDir, 'server', 'relay.key');
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dataDir, 'server')).mode & 0o777).toBe(0o700);

    // The client sees exactly the key whose fingerprint the relay printed.
    const id = createIdentity();
    let seen = '';
    const { channel } = await connectSecureChannel(await dial(relay.port), {
      staticKey: id.dhKey,
      verifyServer: (k) => {
        seen = fingerprint(k);
      },
      login: { user: 'Adam', signKey: toBase64(id.signKey.publicKey), idcert: toBase64(id.idcert) },
      parse: parseRelayMessage,
    });
    expect(seen).toBe(relay.fingerprint);
    const welcome = new Promise((r) => channel.once('message', r));
    channel.start();
    expect(await welcome).toMatchObject({ t: 'welcome' });
    const pong = new Promise((r) => channel.once('message', r));
    channel.send({ t: 'ping', rid: 'p1' });
    expect(await pong).toEqual({ t: 'pong', rid: 'p1' });
    channel.close();
  } finally {
    expect(await relay.stop('SIGTERM')).toBe(0);
  }
  expect(relay.stdout()).toContain('stopped');

  // Restarted, it loads the same key.
  const again = await startRelayProcess(dataDir);
  try {
    expect(again.fingerprint).toBe(relay.fingerprint);
    const c = await loginClient(again.port, 'Eve');
    expect((await c.request({ t: 'ping' }, 'pong')).t).toBe('pong');
    c.close();
  } finally {
    expect(await again.stop('SIGINT')).toBe(0);
  }
});

it('refuses a second --serve on the same data dir, naming the pid of the first (issue 10, defect 9)', async () => {
  const dataDir = tempDir();
  const first = await startRelayProcess(dataDir);
  try {
    await expect(startRelayProcess(dataDir)).rejects.toThrow(new RegExp(`pid ${first.child.pid}`));
  } finally {
    expect(await first.stop()).toBe(0);
  }
}, 60_000);
