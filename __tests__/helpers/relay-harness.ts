/**
 * Test harness: a real relay on a loopback port (in-process, or the real binary as a child
 * process) and bare protocol clients that speak section 5 and 7 over real sockets.
 */
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createIdentity, type Identity } from '../../lib/crypto/identity';
import { toBase64, utf8 } from '../../lib/crypto/primitives';
import { closeLogger, createLogger } from '../../lib/log';
import {
  parseRelayMessage,
  serializeMessage,
  type ClientMessage,
  type RelayMessage,
} from '../../lib/net/messages';
import { connectSecureChannel, type SecureChannel } from '../../lib/net/secure-channel';
import { Relay, type RelayLimits } from '../../lib/server/relay';
import { openRelayStore } from '../../lib/server/sqlite-store';
import type { RelayStore } from '../../lib/server/store';
import type { RelayCluster } from '../../lib/server/session';
import type { Logger } from '../../lib/log';
import { loadOrCreateRelayKey } from '../../lib/server/relay-key';
import type { ChannelTimeouts } from '../../lib/net/secure-channel';

export function tempDir(prefix = 'chatsecure-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestRelay {
  relay: Relay;
  port: number;
  dir: string;
  logFile: string;
  publicKey: Uint8Array;
  /** The store the harness made and handed to the relay (a test may play a relay that lies). */
  store: RelayStore;
  stop(): Promise<void>;
}

let openStore: ((dir: string) => Promise<RelayStore>) | undefined;
let makeCluster: ((store: RelayStore, logger: Logger) => RelayCluster) | undefined;

/**
 * Makes startRelay open this store instead of SQLite (and, with `cluster`, run in cluster mode
 * on it): the relay tests run again on Redis.
 */
export function useRelayStore(
  open: ((dir: string) => Promise<RelayStore>) | undefined,
  cluster?: (store: RelayStore, logger: Logger) => RelayCluster,
): void {
  openStore = open;
  makeCluster = cluster;
}

export async function startRelay(
  opts: {
    dir?: string;
    port?: number;
    timeouts?: ChannelTimeouts;
    limits?: Partial<RelayLimits>;
    now?: () => number;
    store?: RelayStore;
  } = {},
): Promise<TestRelay> {
  const dir = opts.dir ?? tempDir();
  const logFile = path.join(dir, 'server.log');
  const logger = createLogger({ file: logFile, name: 'relay', level: 'debug' });
  const { key } = loadOrCreateRelayKey(dir);
  const store = opts.store ?? (openStore ? await openStore(dir) : openRelayStore(dir));
  const cluster = opts.store ? undefined : makeCluster?.(store, logger);
  const relay = await Relay.start({
    ...(cluster ? { cluster } : {}),
    host: '127.0.0.1',
    port: opts.port ?? 0,
    key,
    store,
    logger,
    now: opts.now,
    timeouts: opts.timeouts,
    // Every test connects from 127.0.0.1: the per-address gates are opened unless a test sets them.
    limits: {
      registrationsPerAddressPerHour: 1e6,
      maxHandshakesPerAddress: 1e4,
      queuePerAddress: 1e6,
      ...opts.limits,
    },
  });
  return {
    relay,
    port: relay.address.port,
    dir,
    logFile,
    publicKey: key.publicKey,
    store,
    async stop() {
      await relay.stop();
      await closeLogger(logger);
    },
  };
}

/**
 * Plaintext the harness puts inside the secure channel byte for byte, not through
 * `serializeMessage`: how a hostile client sends what no typed message can be.
 */
class RawPlaintext {
  constructor(readonly bytes: Uint8Array) {}
}

type Outgoing = ClientMessage | RawPlaintext;

const serializeOutgoing = (m: Outgoing): Uint8Array =>
  m instanceof RawPlaintext ? m.bytes : serializeMessage(m);

/**
 * A bare protocol client: a secure channel, the TCP socket the harness dialled under it (to write
 * bytes outside the channel, as a hostile client would), and a queue of what the relay sent.
 */
export class TestClient {
  readonly received: RelayMessage[] = [];
  private waiters: { pred: (m: RelayMessage) => boolean; resolve: (m: RelayMessage) => void }[] = [];
  closed: { code: string } | undefined;
  private rid = 0;

  constructor(
    readonly channel: SecureChannel<RelayMessage, Outgoing>,
    readonly socket: net.Socket,
    readonly identity: Identity,
    readonly name: string,
  ) {
    channel.on('message', (m) => {
      const i = this.waiters.findIndex((w) => w.pred(m));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(m);
      else this.received.push(m);
    });
    channel.on('close', (r) => {
      this.closed = r;
    });
    channel.start();
  }

  nextRid(): string {
    return `r${++this.rid}`;
  }

  send(msg: ClientMessage): void {
    this.channel.send(msg);
  }

  /** Sends `text` as the plaintext of one transport message, whatever it is. */
  sendRaw(text: string): void {
    this.channel.send(new RawPlaintext(utf8(text)));
  }

  /** The next message matching `pred` (already received or still to come). */
  next<T extends RelayMessage['t']>(
    t: T,
    pred: (m: Extract<RelayMessage, { t: T }>) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<Extract<RelayMessage, { t: T }>> {
    const match = (m: RelayMessage) => m.t === t && pred(m as Extract<RelayMessage, { t: T }>);
    const i = this.received.findIndex(match);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0] as Extract<RelayMessage, { t: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name}: no ${t} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        pred: match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<RelayMessage, { t: T }>);
        },
      });
    });
  }

  /** Sends a request with a fresh rid and waits for the answer with that rid. */
  async request<T extends RelayMessage['t']>(
    msg: Extract<ClientMessage, { rid: string }> extends infer M
      ? M extends unknown
        ? Omit<M, 'rid'>
        : never
      : never,
    answer: T,
  ): Promise<Extract<RelayMessage, { t: T }> | Extract<RelayMessage, { t: 'error' }>> {
    const rid = this.nextRid();
    const p = Promise.race([
      this.next(answer, (m) => (m as { rid?: string }).rid === rid),
      this.next('error', (m) => m.rid === rid),
    ]);
    this.send({ ...msg, rid } as ClientMessage);
    return p;
  }

  whenClosed(): Promise<{ code: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve) => this.channel.once('close', resolve));
  }

  close(): void {
    this.channel.close();
  }
}

export function dial(port: number, host = '127.0.0.1', localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

export async function connectClient(
  port: number,
  name: string,
  identity: Identity = createIdentity(),
  extra: { recovery?: string; recover?: string; localAddress?: string; timeouts?: ChannelTimeouts } = {},
): Promise<TestClient> {
  const socket = await dial(port, '127.0.0.1', extra.localAddress);
  const { channel } = await connectSecureChannel<RelayMessage, Outgoing>(socket, {
    ...extra.timeouts,
    recovery: extra.recovery,
    recover: extra.recover,
    staticKey: identity.dhKey,
    verifyServer: () => undefined,
    login: { user: name, signKey: toBase64(identity.signKey.publicKey), idcert: toBase64(identity.idcert) },
    parse: parseRelayMessage,
    serialize: serializeOutgoing,
  });
  return new TestClient(channel, socket, identity, name);
}

/** Logged in: connected and welcomed. */
export async function loginClient(port: number, name: string, identity?: Identity): Promise<TestClient> {
  const c = await connectClient(port, name, identity);
  await c.next('welcome');
  return c;
}

/**
 * A recipient that acks every `deliver` the moment it arrives, as a client that stores at once
 * does; `seen` gets each one first, in arrival order.
 */
export function ackEachDeliver(
  c: TestClient,
  seen: (m: Extract<RelayMessage, { t: 'deliver' }>) => void,
): void {
  c.channel.on('message', (m) => {
    if (m.t !== 'deliver') return;
    seen(m);
    c.send({ t: 'ack', id: m.id });
  });
}

export function readLog(file: string): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const BIN = path.join(__dirname, '..', '..', 'bin', 'chatsecure');

/** A line-mode client process (`--plain`) of the real binary, its output collected. */
export interface LineModeProcess {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  /** Its exit code (null when a signal ended it). */
  exit: Promise<number | null>;
}

export function startLineMode(
  port: number,
  name: string,
  dataDir: string,
  extra: string[] = [],
): LineModeProcess {
  const child = spawn(
    process.execPath,
    [BIN, '--user', name, '--server', `127.0.0.1:${port}`, '--data-dir', dataDir, '--plain', ...extra],
    { stdio: 'pipe' },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return { child, out: () => out, exit: new Promise((r) => child.on('exit', (c) => r(c))) };
}

export interface RelayProcess {
  child: ChildProcess;
  port: number;
  fingerprint: string;
  stdout: () => string;
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the real binary: `chatsecure --serve --port PORT --data-dir DIR` (port 0: any free one). */
export async function startRelayProcess(
  dataDir: string,
  extra: string[] = [],
  port = 0,
): Promise<RelayProcess> {
  const child = spawn(
    process.execPath,
    [BIN, '--serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const start = Date.now();
  while (!/Relay key fingerprint: (SHA256:\S+)/.test(out)) {
    if (child.exitCode !== null) throw new Error(`relay exited: ${err}`);
    if (Date.now() - start > 15000) {
      child.kill('SIGKILL');
      throw new Error(`relay did not start: ${out} ${err}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    child,
    port: Number(/listening on [^\s]+:(\d+)/.exec(out)?.[1]),
    fingerprint: /Relay key fingerprint: (SHA256:\S+)/.exec(out)?.[1] as string,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
