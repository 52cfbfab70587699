/**
 * A real `redis-server` (Debian's package) for the Redis store tests: its own temp dir, a free
 * loopback port, no RDB snapshots, an append-only file synced on every write. Killed by PID;
 * every server a test process started is killed when that process exits, so none is left running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
/** A busy 2-core machine: a server may take a while to load its AOF and say it is ready. */
const READY_TIMEOUT_MS = 30_000;

/** The settings the "stored before sent" promise needs (see lib/server/redis-store.ts). */
export const SAFE_SETTINGS: readonly string[] = [
  '--appendonly',
  'yes',
  '--appendfsync',
  'always',
  '--maxmemory-policy',
  'noeviction',
];

export interface RedisServer {
  readonly port: number;
  readonly dir: string;
  readonly url: string;
  readonly pid: number;
  /** SIGKILL by PID, then wait for the exit: what a crash or an OOM kill does. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: the socket stays open but nothing is answered. */
  pause(): void;
  resume(): void;
  /** Starts again on the same port with the same dir (and so the same AOF). */
  restart(): Promise<void>;
  /** Kills the server and removes its dir. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A port the kernel just handed out and released (the server binds it right after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function spawnServer(port: number, dir: string, settings: readonly string[]): Promise<ChildProcess> {
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--daemonize',
    'no',
    '--logfile',
    '',
    ...settings,
  ];
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not become ready: ${out}`));
    }, READY_TIMEOUT_MS);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code ?? signal}) before it was ready: ${out}`));
    });
  });
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts a server with `settings` (SAFE_SETTINGS unless told), retrying on another port if the
 * free one was taken in between.
 */
export async function startRedis(settings: readonly string[] = SAFE_SETTINGS): Promise<RedisServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 0; child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await spawnServer(port, dir, settings);
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
  let current: ChildProcess = child;
  const server: RedisServer = {
    port,
    dir,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return current.pid!;
    },
    async kill() {
      process.kill(current.pid!, 'SIGKILL');
      await waitExit(current);
    },
    pause() {
      process.kill(current.pid!, 'SIGSTOP');
    },
    resume() {
      process.kill(current.pid!, 'SIGCONT');
    },
    async restart() {
      if (current.exitCode === null && current.signalCode === null) await server.kill();
      current = await spawnServer(port, dir, settings);
    },
    async stop() {
      if (current.exitCode === null && current.signalCode === null) {
        process.kill(current.pid!, 'SIGCONT');
        await server.kill();
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
