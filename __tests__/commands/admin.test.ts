/** `chatsecure admin ...` through the real binary, on a relay data dir a real relay filled. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { fingerprint, randomBytes, toBase64, toHex } from '../../lib/crypto/primitives';
import { serverDir } from '../../lib/paths';
import { BIN, loginClient, startRelay, tempDir, waitFor } from '../helpers/relay-harness';
import { ensureBuilt } from '../helpers/dist';

let dataDir: string;
let relayKey: Uint8Array;
let eveKey: Uint8Array;

beforeAll(async () => {
  ensureBuilt(['commands', 'admin.js']);
  dataDir = tempDir('chatsecure-admin-');
  const relay = await startRelay({ dir: serverDir(dataDir) });
  relayKey = relay.publicKey;
  const eve = await loginClient(relay.port, 'Eve');
  eveKey = eve.identity.dhKey.publicKey;
  eve.close();
  const adam = await loginClient(relay.port, 'Adam');
  await waitFor(() => !relay.relay.online.includes('Eve'), 20_000, 'Eve offline');
  for (let i = 0; i < 2; i++) {
    const r = await adam.request(
      { t: 'send', id: toHex(randomBytes(16)), to: 'Eve', env: toBase64(randomBytes(64)) },
      'sent',
    );
    expect(r).toMatchObject({ status: 'queued' });
  }
  for (const n of ['Bob', 'Carol']) (await loginClient(relay.port, n)).close();
  adam.close();
  await relay.stop();
}, 60_000);
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

function admin(args: string[], input = '') {
  return spawnSync(process.execPath, [BIN, 'admin', ...args, '--data-dir', dataDir], {
    encoding: 'utf8',
    input,
  });
}

it('admin users lists the users a page at a time, with their queues', () => {
  const all = admin(['users']);
  expect(all.stderr).toBe('');
  expect(all.status).toBe(0);
  const lines = all.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^NAME\s+REGISTERED\s+LAST SEEN\s+QUEUED$/);
  expect(lines.slice(1, -1).map((l) => l.split(/\s+/)[0])).toEqual(['Adam', 'Bob', 'Carol', 'Eve']);
  expect(lines.find((l) => l.startsWith('Eve'))).toMatch(/\s2$/);
  expect(lines.at(-1)).toBe('page 1 of 1 (4 users)');
  const p2 = admin(['users', '--page-size', '3', '--page', '2']);
  expect(p2.stdout.trim().split('\n').slice(1)).toEqual([
    expect.stringMatching(/^Eve /),
    'page 2 of 2 (4 users)',
  ]);
  expect(admin(['users', '--page', '3', '--page-size', '3']).status).toBe(2);
  expect(admin(['users', '--page', '0']).status).toBe(2);
});

it('admin user NAME shows last seen, queue depth and the identity', () => {
  const r = admin(['user', 'eve']);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^name: +Eve$/m);
  expect(r.stdout).toMatch(/^queued: +2$/m);
  expect(r.stdout).toMatch(/^last seen: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
  expect(r.stdout).toContain(`identity:    ${fingerprint(eveKey)}`);
  const unknown = admin(['user', 'Zed']);
  expect(unknown.status).toBe(1);
  expect(unknown.stderr).toBe('chatsecure: no user is called Zed (unknown_user)\n');
  expect(admin(['user', 'a/b']).status).toBe(2);
});

it('admin fingerprint prints the relay key fingerprint', () => {
  const r = admin(['fingerprint']);
  expect(r.status).toBe(0);
  expect(r.stdout).toBe(`${fingerprint(relayKey)}\n`);
});

it('admin free-name asks first; no answer changes nothing, "yes" or --yes frees the name', () => {
  const no = admin(['free-name', 'Eve'], 'no\n');
  expect(no.status).toBe(1);
  expect(no.stderr).toContain('Free the name Eve?');
  expect(no.stderr).toContain('2 queued envelopes');
  expect(no.stderr).toContain('Nothing was changed.');
  const eof = admin(['free-name', 'Eve']);
  expect(eof.status).toBe(1);
  expect(admin(['user', 'Eve']).status).toBe(0);

  const yes = admin(['free-name', 'Eve'], 'yes\n');
  expect(yes.status).toBe(0);
  expect(yes.stdout).toBe('Freed the name Eve (2 queued envelopes deleted).\n');
  expect(admin(['user', 'Eve']).status).toBe(1);

  const forced = admin(['free-name', 'Bob', '--yes']);
  expect(forced.status).toBe(0);
  expect(forced.stderr).toBe('');
  expect(admin(['free-name', 'Bob', '--yes']).status).toBe(1);
  expect(admin(['users']).stdout).toContain('page 1 of 1 (2 users)');
});

it('admin without an action, or on a data dir with no relay, is one sentence', () => {
  const none = admin([]);
  expect(none.status).toBe(2);
  expect(none.stderr).toMatch(/^chatsecure: say which: admin users/);
  const empty = tempDir('chatsecure-admin-empty-');
  const r = spawnSync(process.execPath, [BIN, 'admin', 'users', '--data-dir', empty], { encoding: 'utf8' });
  fs.rmSync(empty, { recursive: true, force: true });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^chatsecure: there is no relay data in .*\(storage_failed\)\n$/);
});
