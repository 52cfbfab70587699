/**
 * Docs/protocol.md section 6.1 with the real binary: `admin authority create|sign|show`, relay
 * processes started with `--relay-cert`, and clients (a line-mode process and the Client core)
 * that trust the authority instead of each relay's key. Loopback only; every process is stopped.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ed25519KeyPair, fingerprint } from '../../lib/crypto/primitives';
import { formatRelayCertFile, relayCertFields, signRelayCert } from '../../lib/crypto/relay-cert';
import { serverDir } from '../../lib/paths';
import { loadOrCreateRelayKey } from '../../lib/server/relay-key';
import { makeUser, type TestUser } from '../helpers/client-harness';
import { BIN, type RelayProcess, startRelayProcess, tempDir, waitFor } from '../helpers/relay-harness';
import { ensureBuilt } from '../helpers/dist';

let work: string;
let authorityFile: string;
let authorityFp: string;
const relays: RelayProcess[] = [];
const users: TestUser[] = [];
const procs: ChildProcessWithoutNullStreams[] = [];

function chatsecure(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
}

/** A relay data dir with its key made, and a certificate for that key signed through the binary. */
function certifiedDataDir(id: string, signer = authorityFile): { dataDir: string; certFile: string } {
  const dataDir = tempDir(`chatsecure-${id}-`);
  loadOrCreateRelayKey(serverDir(dataDir));
  const pub = chatsecure(['admin', 'relay-key', '--data-dir', dataDir]);
  expect(pub.status).toBe(0);
  const certFile = path.join(dataDir, `${id}.cert`);
  const signed = chatsecure([
    'admin',
    'authority',
    'sign',
    signer,
    '--relay-key',
    pub.stdout.trim(),
    '--relay-id',
    id,
    '--days',
    '30',
    '--out',
    certFile,
  ]);
  expect([signed.status, signed.stderr]).toEqual([0, '']);
  return { dataDir, certFile };
}

async function relayProcess(dataDir: string, extra: string[] = []): Promise<RelayProcess> {
  const r = await startRelayProcess(dataDir, extra);
  relays.push(r);
  return r;
}

interface LineClient {
  out: () => string;
  exit: Promise<number | null>;
  child: ChildProcessWithoutNullStreams;
}

function lineClient(port: number, name: string, dataDir: string, extra: string[]): LineClient {
  const child = spawn(
    process.execPath,
    [BIN, '--user', name, '--server', `127.0.0.1:${port}`, '--data-dir', dataDir, '--plain', ...extra],
    { stdio: 'pipe' },
  );
  procs.push(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return { child, out: () => out, exit: new Promise((r) => child.on('exit', (c) => r(c))) };
}

async function user(port: number, name: string, client: Record<string, unknown>): Promise<TestUser> {
  const u = await makeUser(port, name, { client: { acceptNewServer: false, ...client }, start: false });
  users.push(u);
  return u;
}

function registered(dataDir: string): string {
  const r = chatsecure(['admin', 'users', '--data-dir', dataDir]);
  expect(r.status).toBe(0);
  return r.stdout;
}

beforeAll(() => {
  ensureBuilt(['crypto', 'relay-cert.js']);
  work = tempDir('chatsecure-authority-');
  authorityFile = path.join(work, 'ca.key');
  const created = chatsecure(['admin', 'authority', 'create', authorityFile]);
  expect(created.status).toBe(0);
  authorityFp = /Created the relay authority (SHA256:\S+)/.exec(created.stdout)?.[1] ?? '';
  expect(authorityFp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
}, 60_000);

afterEach(async () => {
  for (const u of users.splice(0)) await u.stop().catch(() => undefined);
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  for (const r of relays.splice(0)) await r.stop();
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('admin authority', () => {
  it('creates a 0600 key, never over a file or through a symlink, and refuses a key others can read', () => {
    expect(fs.statSync(authorityFile).mode & 0o777).toBe(0o600);
    const again = chatsecure(['admin', 'authority', 'create', authorityFile]);
    expect([again.status, again.stderr]).toEqual([1, expect.stringMatching(/already exists/)]);
    const target = path.join(work, 'target');
    const link = path.join(work, 'link.key');
    fs.symlinkSync(target, link);
    expect(chatsecure(['admin', 'authority', 'create', link]).status).toBe(1);
    expect(fs.existsSync(target)).toBe(false);
    // Reading through a symlink is refused too.
    const toKey = path.join(work, 'to-key');
    fs.symlinkSync(authorityFile, toKey);
    const viaLink = chatsecure(['admin', 'authority', 'show', toKey]);
    expect([viaLink.status, viaLink.stderr]).toEqual([1, expect.stringMatching(/symbolic link/)]);

    const shown = chatsecure(['admin', 'authority', 'show', authorityFile]);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toContain(`Relay authority: ${authorityFp}`);
    expect(shown.stdout).toContain(`--trust-authority ${authorityFp}`);
    // The secret never appears in what it prints.
    const seed = (JSON.parse(fs.readFileSync(authorityFile, 'utf8')) as { seed: string }).seed;
    expect(shown.stdout + shown.stderr).not.toContain(seed);

    const loose = path.join(work, 'loose.key');
    fs.copyFileSync(authorityFile, loose);
    fs.chmodSync(loose, 0o640);
    const refused = chatsecure(['admin', 'authority', 'show', loose]);
    expect([refused.status, refused.stderr]).toEqual([1, expect.stringMatching(/read by others.*chmod 600/)]);
  });

  it('signs a certificate that show reads back; bad arguments exit 2', () => {
    const { certFile } = certifiedDataDir('relay-a');
    const shown = chatsecure(['admin', 'authority', 'show', certFile]);
    expect(shown.stdout).toMatch(
      new RegExp(
        `^Relay certificate: relay id relay-a, key SHA256:\\S+, authority ${authorityFp.replace(/[+/]/g, '\\$&')}, valid `,
      ),
    );
    const base = ['admin', 'authority', 'sign', authorityFile, '--relay-id', 'x'];
    expect(chatsecure([...base, '--relay-key', 'not-a-key']).status).toBe(2);
    expect(chatsecure([...base, '--relay-key', Buffer.alloc(32).toString('base64')]).status).toBe(2);
    const key = Buffer.alloc(32, 7).toString('base64');
    expect(chatsecure([...base, '--relay-key', key, '--days', '0']).status).toBe(2);
    expect(chatsecure([...base.slice(0, -1), 'bad id', '--relay-key', key]).status).toBe(2);
  });
});

describe('relays with certificates', () => {
  it('two relays with different keys are both accepted by one pinned authority, and nothing is pinned', async () => {
    const a = certifiedDataDir('relay-1');
    const b = certifiedDataDir('relay-2');
    const r1 = await relayProcess(a.dataDir, ['--relay-cert', a.certFile]);
    const r2 = await relayProcess(b.dataDir, ['--relay-cert', b.certFile]);
    expect(r1.fingerprint).not.toBe(r2.fingerprint);
    expect(r1.stdout()).toMatch(/Relay certificate: relay id relay-1, key SHA256:\S+, authority SHA256:/);

    // The real binary, line mode, with --trust-authority and without --accept-new-server.
    const clientDir = tempDir('chatsecure-client-');
    const adam = lineClient(r1.port, 'Adam', clientDir, ['--trust-authority', authorityFp]);
    await waitFor(() => adam.out().includes('* connected'), 15_000, 'Adam connected to relay 1');
    adam.child.kill('SIGTERM');
    await adam.exit;
    // Trusted through the authority: no key was pinned.
    expect(fs.existsSync(path.join(clientDir, 'users', 'adam', 'known_servers'))).toBe(false);

    // The Client core, trusting the authority through a known_servers line that covers both ports.
    const eve = await user(r2.port, 'Eve', {});
    fs.writeFileSync(path.join(eve.dir, 'known_servers'), `@cert-authority 127.0.0.1:* ${authorityFp}\n`);
    eve.client.start();
    await eve.online();
    const ks = fs.readFileSync(path.join(eve.dir, 'known_servers'), 'utf8');
    expect(ks).toBe(`@cert-authority 127.0.0.1:* ${authorityFp}\n`);
    expect(registered(b.dataDir)).toMatch(/^Eve /m);
    // A stale pin from before the relay had a certificate (another key): the authority decides.
    const bob = await user(r1.port, 'Bob', { trustAuthorities: [authorityFp] });
    const stale = `127.0.0.1:${r1.port} ${r2.fingerprint}\n`;
    fs.writeFileSync(path.join(bob.dir, 'known_servers'), stale);
    bob.client.start();
    await bob.online();
    expect(bob.client.serverFingerprint).toBe(r1.fingerprint);
    expect(fs.readFileSync(path.join(bob.dir, 'known_servers'), 'utf8')).toBe(stale);
  }, 90_000);

  it('refuses an uncertified relay, or one another authority signed, before sending anything', async () => {
    const plainDir = tempDir('chatsecure-plain-');
    const plain = await relayProcess(plainDir);
    const clientDir = tempDir('chatsecure-client-');
    const adam = lineClient(plain.port, 'Adam', clientDir, ['--trust-authority', authorityFp]);
    expect(await adam.exit).toBe(1);
    expect(adam.out()).toMatch(/showed no certificate, but a relay authority is trusted for it/);

    const otherCa = path.join(work, 'other-ca.key');
    expect(chatsecure(['admin', 'authority', 'create', otherCa]).status).toBe(0);
    const foreign = certifiedDataDir('foreign', otherCa);
    const r = await relayProcess(foreign.dataDir, ['--relay-cert', foreign.certFile]);
    const eve = await user(r.port, 'Eve', { trustAuthorities: [authorityFp] });
    eve.client.start();
    await waitFor(() => (eve.events.error ?? []).length > 0, 15_000, 'the refusal');
    expect(eve.errors[0]).toMatchObject({
      code: 'server_cert_invalid',
      message: expect.stringMatching(/signed by authority SHA256:\S+, which is not trusted/),
    });

    // Message 3 never went: neither relay registered anyone.
    await plain.stop();
    await r.stop();
    expect(registered(plainDir)).not.toMatch(/Adam/);
    expect(registered(foreign.dataDir)).not.toMatch(/Eve/);
  }, 90_000);

  it('a client whose clock is past the expiry refuses with server_cert_expired', async () => {
    const a = certifiedDataDir('relay-1');
    const r = await relayProcess(a.dataDir, ['--relay-cert', a.certFile]);
    const eve = await user(r.port, 'Eve', {
      trustAuthorities: [authorityFp],
      now: () => Date.now() + 31 * 86_400_000,
    });
    eve.client.start();
    await waitFor(() => eve.errors.length > 0, 15_000, 'the refusal');
    expect(eve.errors[0]).toMatchObject({
      code: 'server_cert_expired',
      message: expect.stringMatching(/expired at/),
    });
    expect(eve.client.connection).toMatchObject({ state: 'closed', code: 'server_cert_expired' });
  }, 60_000);

  it('a relay refuses to start with a certificate for another key, or an expired one', async () => {
    const a = certifiedDataDir('relay-1');
    const b = certifiedDataDir('relay-2');
    const wrong = chatsecure(['--serve', '--port', '0', '--data-dir', a.dataDir, '--relay-cert', b.certFile]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(
      /certifies the key SHA256:\S+, but this relay's key is SHA256:\S+.*\(server_cert_invalid\)/,
    );

    const ca = ed25519KeyPair();
    const { key } = loadOrCreateRelayKey(serverDir(a.dataDir));
    const expired = path.join(a.dataDir, 'expired.cert');
    const old = relayCertFields(key.publicKey, 'relay-1', Date.now() - 40 * 86_400_000, 30);
    fs.writeFileSync(expired, formatRelayCertFile(signRelayCert(ca.secretKey, old)));
    const late = chatsecure(['--serve', '--port', '0', '--data-dir', a.dataDir, '--relay-cert', expired]);
    expect(late.status).toBe(1);
    expect(late.stderr).toMatch(/expired at .*\(server_cert_expired\)/);
    fs.writeFileSync(expired, 'chatsecure-relay-cert-v1 AAAA\n');
    const junk = chatsecure(['--serve', '--port', '0', '--data-dir', a.dataDir, '--relay-cert', expired]);
    expect([junk.status, junk.stderr]).toEqual([1, expect.stringMatching(/is not a relay certificate/)]);
  }, 60_000);
});

describe('TOFU, unchanged', () => {
  it('a relay without a certificate, and a certified relay for a client that trusts no authority, are pinned as before', async () => {
    const plainDir = tempDir('chatsecure-plain-');
    const plain = await relayProcess(plainDir);
    const clientDir = tempDir('chatsecure-client-');
    const refused = lineClient(plain.port, 'Adam', clientDir, []);
    expect(await refused.exit).toBe(1);
    expect(refused.out()).toContain(plain.fingerprint);
    const adam = lineClient(plain.port, 'Adam', clientDir, ['--accept-new-server']);
    await waitFor(() => adam.out().includes('* connected'), 15_000, 'Adam connected');
    expect(fs.readFileSync(path.join(clientDir, 'users', 'adam', 'known_servers'), 'utf8')).toBe(
      `127.0.0.1:${plain.port} ${plain.fingerprint}\n`,
    );

    const a = certifiedDataDir('relay-1');
    const r = await relayProcess(a.dataDir, ['--relay-cert', a.certFile]);
    const eve = await user(r.port, 'Eve', { acceptNewServer: true });
    eve.client.start();
    await eve.online();
    expect(fs.readFileSync(path.join(eve.dir, 'known_servers'), 'utf8')).toBe(
      `127.0.0.1:${r.port} ${r.fingerprint}\n`,
    );
    expect(eve.client.serverFingerprint).toBe(r.fingerprint);
    expect(fingerprint(loadOrCreateRelayKey(serverDir(a.dataDir)).key.publicKey)).toBe(r.fingerprint);
  }, 90_000);
});
