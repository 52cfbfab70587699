/**
 * Issue 13, "what it must show": the real binaries (a relay process and two line-mode clients)
 * exchange a message holding a unique token; then every file of the data dir (databases, -wal,
 * -shm, -journal, logs, keys) is searched for the token and for every session key (root, chain,
 * ratchet secret, skipped message keys), as raw bytes and as the base64 the store writes inside
 * its encrypted pages. None is found, with and without a passphrase.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openSecrets } from '../../lib/client/secrets';
import { openClientStore } from '../../lib/client/sqlite-store';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import { userDir } from '../../lib/paths';
import {
  type LineModeProcess,
  startLineMode,
  startRelayProcess,
  tempDir,
  waitFor,
} from '../helpers/relay-harness';

function allFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? allFiles(p) : [p];
  });
}

/** Every secret byte string a stored session holds (lib/crypto/ratchet/session.ts storage form). */
function sessionSecrets(state: string): Buffer[] {
  const r = (JSON.parse(state) as { ratchet: Record<string, unknown> }).ratchet as {
    rootKey: string;
    ourSecret: string;
    sending?: { ck: string };
    receiving?: { ck: string };
    skipped: { mk: string }[];
  };
  const b64 = [r.rootKey, r.ourSecret, r.sending?.ck, r.receiving?.ck, ...r.skipped.map((k) => k.mk)];
  return b64
    .filter((s): s is string => s !== undefined)
    .flatMap((s) => [Buffer.from(s), Buffer.from(s, 'base64')]);
}

describe.each([
  ['without a passphrase', undefined],
  ['with a passphrase', 'correct horse battery staple'],
])('the data dir after a chat, %s', (_label, passphrase) => {
  test('holds neither the message token nor any session key in any file', async () => {
    const dataDir = tempDir();
    const extra: string[] = [];
    if (passphrase !== undefined) {
      const pf = path.join(tempDir(), 'passphrase');
      fs.writeFileSync(pf, `${passphrase}\n`, { mode: 0o600 });
      extra.push('--passphrase-file', pf);
    }
    const relay = await startRelayProcess(dataDir);
    const token = `TOKEN${toHex(randomBytes(12))}`;
    const procs: LineModeProcess[] = [];
    try {
      const args = [...extra, '--server-fingerprint', relay.fingerprint];
      const adam = startLineMode(relay.port, 'Adam', dataDir, args);
      const eve = startLineMode(relay.port, 'Eve', dataDir, args);
      procs.push(adam, eve);
      await waitFor(
        () => adam.out().includes('* connected') && eve.out().includes('* connected'),
        20000,
        'both connected',
      );
      adam.child.stdin.write(`Eve: sealed secret text ${token}\n`);
      await waitFor(() => eve.out().includes(token), 20000, 'Eve to see the token');
      eve.child.stdin.write(`/msg Adam reply ${token}\n`);
      await waitFor(() => adam.out().includes(`reply ${token}`), 20000, 'Adam to see the reply');
      // Scanned while both clients are running (the -wal files are there), and again after exit.
      const scan = () =>
        allFiles(dataDir).filter((f) => {
          const raw = fs.readFileSync(f);
          return raw.includes(token) || secrets.some((s) => raw.includes(s));
        });
      let secrets: Buffer[] = [];
      expect(allFiles(dataDir).some((f) => f.endsWith('client.db-wal'))).toBe(true);
      expect(scan()).toEqual([]);
      adam.child.stdin.write('/exit\n');
      eve.child.stdin.write('/exit\n');
      expect(await adam.exit).toBe(0);
      expect(await eve.exit).toBe(0);
      await relay.stop();

      for (const [me, peer] of [
        ['Adam', 'eve'],
        ['Eve', 'adam'],
      ]) {
        const dir = userDir(dataDir, me);
        const { dbKey } = openSecrets(dir, passphrase);
        const store = openClientStore(dir, { key: dbKey });
        const sessions = store.sessions(peer);
        expect(store.history(peer).some((m) => m.body.includes(token))).toBe(true);
        store.close();
        expect(sessions.length).toBeGreaterThan(0);
        secrets = secrets.concat(sessions.flatMap((s) => sessionSecrets(s.state)));
      }
      expect(secrets.length).toBeGreaterThanOrEqual(6);
      expect(scan()).toEqual([]);
      // The scan itself finds what is there: the bodies are in the clients' output.
      expect(adam.out().includes(token)).toBe(true);
    } catch (err) {
      for (const p of procs) process.stderr.write(`--- client output ---\n${p.out()}\n`);
      throw err;
    } finally {
      for (const p of procs) if (p.child.exitCode === null) p.child.kill();
      await relay.stop();
    }
  }, 90000);
});
