/**
 * The relay as a service, through the real binary: --metrics scraped over loopback, SIGHUP
 * reopening the log under logrotate (rename, HUP, new file), --log-file - for journald, and the
 * systemd unit in deploy/ checked by systemd-analyze.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { randomBytes, toBase64, toHex } from '../../lib/crypto/primitives';
import { BIN, loginClient, startRelayProcess, tempDir, waitFor } from '../helpers/relay-harness';
import { ensureBuilt } from '../helpers/dist';

const ROOT = path.join(__dirname, '..', '..');
const dirs: string[] = [];
function tmp(): string {
  const d = tempDir('chatsecure-ops-');
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

beforeAll(() => {
  ensureBuilt(['server', 'metrics.js']);
}, 120_000);

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** A sample's value from Prometheus text, or undefined. */
function sample(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

describe('--metrics', () => {
  it('serves /healthz and counters that move after a message, with no name in any label', async () => {
    const relay = await startRelayProcess(tmp(), ['--metrics', '127.0.0.1:0']);
    try {
      const port = Number(/Metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(relay.stdout())?.[1]);
      expect(port).toBeGreaterThan(0);
      expect(await get(port, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
      const before = (await get(port, '/metrics')).body;
      expect(sample(before, 'chatsecure_messages_relayed_total')).toBe(0);
      expect(sample(before, 'chatsecure_logins_total')).toBe(0);
      expect(before).toMatch(/^chatsecure_nodejs_eventloop_lag_seconds /m);

      const eve = await loginClient(relay.port, 'Eve');
      eve.close();
      const adam = await loginClient(relay.port, 'Adam');
      // Eve is offline: the envelope waits in the queue.
      await waitFor(async () => {
        const r = await adam.request({ t: 'list' }, 'users');
        return r.t === 'users' && !r.users.some((u) => u.name === 'Eve' && u.online);
      }, 20_000);
      const sent = await adam.request(
        { t: 'send', id: toHex(randomBytes(16)), to: 'Eve', env: toBase64(randomBytes(100)) },
        'sent',
      );
      expect(sent).toMatchObject({ t: 'sent', status: 'queued' });
      const after = (await get(port, '/metrics')).body;
      expect(sample(after, 'chatsecure_messages_relayed_total')).toBe(1);
      expect(sample(after, 'chatsecure_logins_total')).toBe(2);
      expect(sample(after, 'chatsecure_handshakes_total{outcome="ok"}')).toBe(2);
      expect(sample(after, 'chatsecure_queue_depth')).toBe(1);
      expect(sample(after, 'chatsecure_users_online')).toBe(1);
      expect(sample(after, 'chatsecure_connections')).toBeGreaterThanOrEqual(1);
      expect(after).toMatch(/^chatsecure_store_seconds_count\{operation="enqueue"\} 1$/m);
      expect(after.toLowerCase()).not.toContain('adam');
      expect(after.toLowerCase()).not.toContain('eve"');
      adam.close();
      expect((await get(port, '/nope')).status).toBe(404);
    } finally {
      expect(await relay.stop()).toBe(0);
    }
  }, 60_000);

  it('a bad --metrics address is one sentence and exit status 2', () => {
    const r = spawnSync(process.execPath, [BIN, '--serve', '--metrics', 'nowhere', '--data-dir', tmp()], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^chatsecure: --metrics must be HOST:PORT, not "nowhere"\n$/);
  });
});

function spawnRelay(args: string[]): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(process.execPath, [BIN, '--serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  return { child, out: () => out, err: () => err };
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('logs for a service', () => {
  it('SIGHUP reopens the log file that logrotate renamed (rename, HUP, new file)', async () => {
    if (!has('logrotate')) {
      console.warn('logrotate is not installed (.ci/run installs it): skipped');
      return;
    }
    const d = tmp();
    const log = path.join(d, 'server.log');
    const r = spawnRelay(['--data-dir', d, '--log-file', log]);
    try {
      await waitFor(() => /listening on \S+:(\d+)/.test(r.out()), 20_000, 'the relay');
      const port = Number(/listening on \S+:(\d+)/.exec(r.out())?.[1]);
      await waitFor(
        () => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('relay listening'),
        20_000,
      );
      // deploy/'s snippet, pointed at this log and this process.
      const snippet = fs
        .readFileSync(path.join(ROOT, 'deploy', 'chatsecure.logrotate'), 'utf8')
        .replace(/^\/var\/log\/chatsecure\/server\.log/m, log)
        .replace(/create 0600 \S+ \S+/, 'create 0600')
        .replace(/^\s*systemctl kill .*$/m, `        kill -HUP ${r.child.pid}`);
      fs.writeFileSync(path.join(d, 'logrotate.conf'), snippet);
      const lr = spawnSync('logrotate', ['-f', '-s', path.join(d, 'state'), path.join(d, 'logrotate.conf')], {
        encoding: 'utf8',
      });
      expect(`${lr.stdout}${lr.stderr}`).toBe('');
      expect(lr.status).toBe(0);
      expect(fs.readFileSync(`${log}.1`, 'utf8')).toContain('relay listening');
      await waitFor(() => fs.readFileSync(log, 'utf8').includes('log file reopened'), 20_000, 'the reopen');
      expect(fs.statSync(log).mode & 0o777).toBe(0o600);
      // The relay lives on and writes the new file.
      const c = await loginClient(port, 'Adam');
      await waitFor(() => fs.readFileSync(log, 'utf8').includes('logged in'), 20_000, 'a login line');
      c.close();
      expect(fs.readFileSync(`${log}.1`, 'utf8')).not.toContain('logged in');
      expect(r.child.exitCode).toBeNull();
    } finally {
      r.child.kill('SIGTERM');
      expect(await exitOf(r.child)).toBe(0);
    }
  }, 60_000);

  it('--log-file - writes JSON lines to stderr, and SIGHUP does not stop the relay', async () => {
    const d = tmp();
    const r = spawnRelay(['--data-dir', d, '--log-file', '-']);
    try {
      await waitFor(() => r.err().includes('relay listening'), 20_000, 'a log line on stderr');
      const first = r.err().split('\n')[0];
      expect(JSON.parse(first)).toMatchObject({ name: 'relay' });
      r.child.kill('SIGHUP');
      await waitFor(() => r.err().includes('log file reopened'), 20_000, 'the SIGHUP line');
      expect(r.child.exitCode).toBeNull();
      expect(fs.existsSync(path.join(d, 'logs'))).toBe(false);
    } finally {
      r.child.kill('SIGTERM');
      expect(await exitOf(r.child)).toBe(0);
    }
  }, 60_000);
});

describe('deploy/chatsecure.service', () => {
  const unit = fs.readFileSync(path.join(ROOT, 'deploy', 'chatsecure.service'), 'utf8');

  it('is hardened: its own user, ProtectSystem=strict, NoNewPrivileges, ExecReload sends HUP', () => {
    expect(unit).toMatch(/^User=chatsecure$/m);
    expect(unit).toMatch(/^ProtectSystem=strict$/m);
    expect(unit).toMatch(/^NoNewPrivileges=yes$/m);
    expect(unit).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(unit).toMatch(/^ExecStart=\S+ --serve .*--log-file -$/m);
  });

  it('passes systemd-analyze verify (and a broken copy does not)', () => {
    if (!has('systemd-analyze')) {
      console.warn('systemd-analyze is not installed (.ci/run installs Debian systemd): skipped');
      return;
    }
    const d = tmp();
    // verify checks that ExecStart exists and that Documentation= resolves: point both here.
    fs.mkdirSync(path.join(d, 'man', 'man1'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'man', 'chatsecure.1'), path.join(d, 'man', 'man1', 'chatsecure.1'));
    const env = { ...process.env, MANPATH: path.join(d, 'man') };
    const file = path.join(d, 'chatsecure.service');
    fs.writeFileSync(file, unit.replace('/usr/bin/chatsecure', BIN));
    const ok = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', env });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    fs.writeFileSync(
      file,
      unit.replace('/usr/bin/chatsecure', BIN).replace('ProtectSystem=strict', 'ProtectSystem=stricter'),
    );
    const bad = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', env });
    expect(bad.stderr).toMatch(/protect ?system/i);
  });
});
