/**
 * Tools for the fault tests: the real relay binary restarted on a fixed port, the real client
 * binary run to completion, a TCP proxy that can swallow one direction, and a tiny tmpfs that
 * fills up or turns read-only (a real ENOSPC / EROFS from the kernel, not a mock).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { BIN, type RelayProcess, startRelayProcess, tempDir } from '../helpers/relay-harness';

/** How long a binary that should fail at start may take before the test gives up on it. */
const RUN_TIMEOUT_MS = 15_000;

/** `chatsecure --serve` again on the port a first start chose, so clients find it where they left it. */
export function startRelayOnPort(dataDir: string, port: number): Promise<RelayProcess> {
  return startRelayProcess(dataDir, [], port);
}

export interface BinResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the real binary with stdin closed and waits for it to exit. */
export function runBin(args: string[], env: NodeJS.ProcessEnv = {}): Promise<BinResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    child.stdin.end();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chatsecure ${args.join(' ')} did not exit: ${stdout} ${stderr}`));
    }, RUN_TIMEOUT_MS);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

export interface LineClient {
  child: ChildProcess & { stdin: NodeJS.WritableStream };
  out: () => string;
  exit: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
}

/** A line-mode client process (`--plain`), trusting the relay by fingerprint. */
export function startLineClient(
  port: number,
  name: string,
  dataDir: string,
  fingerprint: string,
): LineClient {
  const child = spawn(
    process.execPath,
    [
      BIN,
      '--user',
      name,
      '--server',
      `127.0.0.1:${port}`,
      '--data-dir',
      dataDir,
      '--plain',
      '--server-fingerprint',
      fingerprint,
    ],
    { stdio: 'pipe' },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return {
    child,
    out: () => out,
    exit: new Promise((r) => child.on('exit', (status, signal) => r({ status, signal }))),
  };
}

/**
 * A loopback TCP proxy. `blockUpstream()` swallows every later byte from the client to the
 * target while the target's bytes still reach the client: an ack the client sends is lost, as
 * if the client died before sending it.
 */
export class BlackholeProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private blocked = false;

  private constructor(private readonly target: number) {
    this.server = net.createServer((inbound) => {
      const outbound = net.connect(this.target, '127.0.0.1');
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.on('data', (d) => {
        if (!this.blocked) outbound.write(d);
      });
      outbound.on('data', (d) => inbound.write(d));
    });
  }

  static async start(target: number): Promise<BlackholeProxy> {
    const p = new BlackholeProxy(target);
    await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', resolve));
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  blockUpstream(): void {
    this.blocked = true;
  }

  /** Cuts every connection through the proxy, as a network drop would; new ones still pass. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A tmpfs of `sizeKb`, mounted on a fresh temp folder: it really fills up (ENOSPC, SQLITE_FULL)
 * and can be remounted read-only (EROFS), even for root, who ignores file modes. Undefined when
 * this machine does not let the test mount (not root, or no mount namespace privileges).
 */
export interface TinyDisk {
  readonly dir: string;
  /** Writes a filler file until the disk refuses (ENOSPC). */
  fill(): void;
  /** Removes the filler. */
  free(): void;
  readOnly(ro: boolean): void;
  unmount(): void;
}

export function mountTinyDisk(sizeKb: number): TinyDisk | undefined {
  const dir = tempDir('chatsecure-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0700`, 'tmpfs', dir], {
      stdio: 'ignore',
    });
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  const filler = path.join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = fs.openSync(filler, 'a');
      const chunk = Buffer.alloc(4096, 0x61);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        fs.closeSync(fd);
      }
    },
    free() {
      fs.rmSync(filler, { force: true });
    },
    readOnly(ro) {
      execFileSync('mount', ['-o', ro ? 'remount,ro' : 'remount,rw', dir], { stdio: 'ignore' });
    },
    unmount() {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Probed once per test file: whether the tmpfs tests can run here. */
export function canMountTmpfs(): boolean {
  const d = mountTinyDisk(64);
  if (!d) return false;
  d.unmount();
  return true;
}
