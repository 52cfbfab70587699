/** ServerTrust on its own, over a real known_servers file (public API only). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { fingerprint, x25519KeyPair } from '../../lib/crypto/primitives';
import { isChatError } from '../../lib/errors';
import { KnownServers } from '../../lib/client/known-servers';
import { ServerTrust } from '../../lib/client/server-trust';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-trust-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function trust(opts: { acceptNewServer?: boolean } = {}) {
  const file = path.join(dir, 'known_servers');
  return new ServerTrust({
    hostPort: '127.0.0.1:7000',
    user: 'alice',
    knownServers: new KnownServers(file),
    knownServersFile: file,
    log: pino({ level: 'silent' }),
    now: Date.now,
    ...opts,
  });
}

function code(fn: () => void): string {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return isChatError(err) ? err.code : 'not a ChatError';
  }
}

it('an unknown key waits for the answer; yes pins it, and a changed key is then refused', () => {
  const t = trust();
  const key = x25519KeyPair().publicKey;
  expect(code(() => t.verify(key))).toBe('server_key_unknown');
  expect(t.seen).toBe(fingerprint(key));
  expect(t.pending?.fingerprint).toBe(fingerprint(key));
  expect(t.answer(true)).toBe(true);
  expect(t.pending).toBeUndefined();
  expect(t.answer(true)).toBe(false);
  expect(code(() => t.verify(key))).toBe('no error');
  const other = x25519KeyPair().publicKey;
  expect(code(() => t.verify(other))).toBe('server_key_changed');
  expect(t.seen).toBe(fingerprint(other));
  expect(t.pending).toBeUndefined();
});

it('no remembers nothing; --accept-new-server pins a first key without asking', () => {
  const key = x25519KeyPair().publicKey;
  const t = trust();
  expect(code(() => t.verify(key))).toBe('server_key_unknown');
  expect(t.answer(false)).toBe(true);
  expect(code(() => t.verify(key))).toBe('server_key_unknown');
  const auto = trust({ acceptNewServer: true });
  expect(code(() => auto.verify(key))).toBe('no error');
  expect(code(() => trust().verify(key))).toBe('no error');
});
