/**
 * Figures of the bench's comparison with a reference (issue 12) that need no relay: TLS 1.3
 * handshakes a core by `openssl s_time` against `openssl s_server` on loopback, and the file
 * descriptor limit (raised as far as the system lets this process).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** CPU seconds (user + system) of a process so far, from /proc; 0 where /proc is missing. */
export function cpuSecondsOf(pid: number | undefined): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export interface FdLimit {
  readonly soft: number;
  readonly hard: number;
  /** Why it is not higher, in words. */
  readonly stoppedBy: string;
}

function limitsOf(): { soft: number; hard: number } {
  const line = fs
    .readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').split(/\s+/).slice(3, 5).map(Number);
  return { soft, hard };
}

/**
 * The fd limit this process has, after `ensureFdLimit` raised the soft one to the hard one; what
 * stops it going higher is tried: raising the hard limit to fs.nr_open.
 */
export function fdLimit(): FdLimit {
  const { soft, hard } = limitsOf();
  let nrOpen = 0;
  try {
    nrOpen = Number(fs.readFileSync('/proc/sys/fs/nr_open', 'utf8'));
  } catch {
    nrOpen = hard;
  }
  if (hard >= nrOpen) return { soft, hard, stoppedBy: `the kernel's fs.nr_open (${nrOpen})` };
  const r = spawnSync('sh', ['-c', `ulimit -n ${nrOpen}`], { encoding: 'utf8' });
  const why = (r.stderr || '').trim().split('\n').pop() || 'refused';
  return {
    soft,
    hard,
    stoppedBy: `the hard limit ${hard} (raising it to fs.nr_open ${nrOpen}: ${why.replace(/^.*ulimit: /, '')})`,
  };
}

/**
 * Re-runs this process under a raised soft fd limit when the hard one allows more, so the relay
 * and load workers it forks inherit it. Returns true when the caller is the re-run (or needs none).
 */
export function ensureFdLimit(): boolean {
  const { soft, hard } = limitsOf();
  if (!(soft < hard) || process.env.BENCH_FD_RAISED) return true;
  const r = spawnSync(
    'sh',
    [
      '-c',
      `ulimit -n ${hard} && exec "$0" "$@"`,
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, BENCH_FD_RAISED: '1' } },
  );
  process.exitCode = r.status ?? 1;
  return false;
}

/** `opensslHandshakes` runs s_time this long first, unmeasured. */
const TLS_WARMUP_SECONDS = 1;

export interface TlsHandshakes {
  /** Seconds of s_time run before the measured run, not counted. */
  readonly warmupSeconds: number;
  readonly connections: number;
  readonly seconds: number;
  /** Handshakes a second of server CPU (user + system). */
  readonly perCore: number;
  readonly perSecond: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** An `openssl s_server` for TLS 1.3 handshakes, measured by `openssl s_time` runs. */
export interface TlsServer {
  /** One timed `s_time -new` run: handshakes a second of the server's CPU over that run only. */
  run(seconds: number): Promise<TlsHandshakes | undefined>;
  stop(): void;
}

/**
 * TLS 1.3 with X25519 and ChaCha20-Poly1305 and an Ed25519 certificate: `openssl s_time -new`
 * (a full handshake per connection, no resumption) against `openssl s_server`, after a warm-up
 * run (the server's first handshakes fault in its pages and fill its caches, as the relays get a
 * warm-up batch in bench/run.ts). Undefined when openssl is missing or fails.
 */
export async function startTlsServer(): Promise<TlsServer | undefined> {
  if (spawnSync('openssl', ['version']).status !== 0) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-tls-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  const made = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ed25519',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-nodes',
    '-subj',
    '/CN=bench',
  ]);
  if (made.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  const port = await freePort();
  const server = spawn(
    'openssl',
    [
      's_server',
      '-quiet',
      '-accept',
      `127.0.0.1:${port}`,
      '-cert',
      cert,
      '-key',
      key,
      '-tls1_3',
      '-groups',
      'X25519',
      '-ciphersuites',
      'TLS_CHACHA20_POLY1305_SHA256',
      '-no_ticket',
    ],
    { stdio: ['pipe', 'ignore', 'ignore'] },
  );
  const stop = () => {
    server.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // Bounded wait for the listener.
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const sTime = (secs: number) =>
    new Promise<string>((resolve) => {
      const c = spawn(
        'openssl',
        ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(secs), '-tls1_3'],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      let text = '';
      c.stdout.on('data', (b: Buffer) => (text += b.toString()));
      c.on('close', () => resolve(text));
    });
  await sTime(TLS_WARMUP_SECONDS);
  return {
    async run(seconds) {
      const cpu0 = cpuSecondsOf(server.pid);
      const out = await sTime(seconds);
      const cpu = cpuSecondsOf(server.pid) - cpu0;
      // "N connections in T real seconds" (the first line's seconds are s_time's own CPU).
      const m = /(\d+) connections in (\d+) real seconds/.exec(out);
      if (!m) return undefined;
      const connections = Number(m[1]);
      const secs = Number(m[2]);
      return {
        warmupSeconds: TLS_WARMUP_SECONDS,
        connections,
        seconds: secs,
        perSecond: connections / secs,
        perCore: cpu > 0 ? connections / cpu : NaN,
      };
    },
    stop,
  };
}

/** One warmed-up timed run of `startTlsServer`'s handshakes, the server stopped after. */
export async function opensslHandshakes(seconds: number): Promise<TlsHandshakes | undefined> {
  const server = await startTlsServer();
  try {
    return await server?.run(seconds);
  } finally {
    server?.stop();
  }
}

/**
 * The disk's floor under a durable commit: `count` 4 KiB appends each followed by fsync, in the
 * temp dir the bench relay keeps its store in. A relay that answers `sent` only after its commit
 * is synced cannot beat this latency (p50 and p99 in ms).
 */
export function fsyncLatency(count = 200): { p50: number; p99: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-fsync-'));
  const fd = fs.openSync(path.join(dir, 'probe'), 'w', 0o600);
  const page = Buffer.alloc(4096, 1);
  const ms: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      fs.writeSync(fd, page);
      fs.fsyncSync(fd);
      ms.push(performance.now() - t0);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(count * 0.5)], p99: ms[Math.min(count - 1, Math.ceil(count * 0.99) - 1)] };
}
