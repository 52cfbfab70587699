/**
 * `npm run bench` (issue 6): relay throughput and latency end to end, handshakes a second, relay
 * memory per idle connection, and crypto primitive rates. Prints a table and writes
 * bench/results/<timestamp>.json.
 *
 *   npm run bench                    the default run (bounded to a few minutes)
 *   npm run bench -- --quick         a short run (a few minutes)
 *   npm run bench -- --e2e ratchet   load clients use the Double Ratchet instead of one AEAD seal
 *   npm run bench -- --profile       the relay writes a V8 CPU profile into bench/results/
 *   npm run bench -- --cluster       1 and 3 relays on Redis beside one on SQLite (bench/cluster.ts)
 *   npm run bench -- --only storage  just the client store, plain and encrypted (bench/storage.ts)
 *   npm run bench -- --only attacks  just the honest user's latency during each issue 10 attack
 *   npm run bench -- --only handshakes  handshakes a relay core, ChatSecure, the reference and TLS
 *   npm run bench -- --only compare  ChatSecure beside the reference relay (issue 12), in rounds
 *
 * Topology: this process forks one relay process (bench/relay-process.ts) and two load workers
 * (bench/load-worker.ts), all on loopback. Nothing here shares a process with the relay. The
 * comparison runs both relays at once, each with its own two load workers, and takes turns.
 */
import { type ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { measureClient } from './client-latency';
import { cryptoRates, type CryptoRow } from './crypto-rates';
import {
  ATTACKS,
  type AttackCommand,
  type AttackKind,
  type AttackReport,
  type E2eMode,
  type RelayCommand,
  type RelayReport,
  type WorkerCommand,
  type WorkerReport,
} from './ipc';
import {
  cpuSecondsOf,
  ensureFdLimit,
  fdLimit,
  type FdLimit,
  fsyncLatency,
  opensslHandshakes,
  startTlsServer,
  type TlsHandshakes,
} from './reference-figures';
import { FD_RESERVE } from '../lib/server/limits';
import { fmt, percentile, table } from './stats';
import { storageBench, type StorageResult } from './storage';

const WORKERS = 2;
/** Each idle client watches this many others' presence, as a client watches its contacts. */
const IDLE_WATCHES = 20;
/** The honest user's rate during the attacks: messages a second, sender to receiver. */
const HONEST_PER_SECOND = 40;
/** Every answer from a child must come within this; a hung phase fails the run, never hangs it. */
const PHASE_TIMEOUT_MS = 180_000;
const RESULTS_DIR = path.join(__dirname, '..', '..', 'bench', 'results');

interface Options {
  readonly quick: boolean;
  readonly e2e: E2eMode;
  readonly profile: boolean;
  /** `--only crypto,throughput,handshakes,idle,client,storage` (and `ui`, `groups`): run just those parts (all by default). */
  readonly only: ReadonlySet<string> | undefined;
}

function parseArgs(argv: readonly string[]): Options {
  const e2eAt = argv.indexOf('--e2e');
  const e2e = e2eAt >= 0 ? argv[e2eAt + 1] : 'aead';
  if (e2e !== 'aead' && e2e !== 'ratchet') throw new Error('--e2e is aead or ratchet');
  const onlyAt = argv.indexOf('--only');
  const only = onlyAt >= 0 ? new Set((argv[onlyAt + 1] ?? '').split(',')) : undefined;
  return { quick: argv.includes('--quick'), e2e, profile: argv.includes('--profile'), only };
}

/** Settings of one run; the default is bounded to about 4 minutes on the 2-core machine. */
function plan(quick: boolean) {
  return quick
    ? {
        cryptoMs: 80,
        sizes: [10, 100, 1000],
        warmupMs: 500,
        throughputMs: 2000,
        rates: [5000],
        rateMs: 2000,
        handshakeWarmup: 1000,
        handshakes: 3000,
        handshakeMs: 20_000,
        idle: [1000, 2000],
        attackMs: 3000,
        steps: [100, 250, 500, 1000, 2000, 4000, 8000],
        stepMs: 1500,
        compareIdle: 2000,
        connectionsMs: 30_000,
      }
    : {
        cryptoMs: 400,
        sizes: [10, 100, 1000],
        warmupMs: 1000,
        throughputMs: 8000,
        rates: [5000, 10000],
        rateMs: 6000,
        handshakeWarmup: 2000,
        handshakes: 9000,
        handshakeMs: 60_000,
        idle: [1000, 10000],
        attackMs: 8000,
        steps: [100, 250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 20000, 24000, 32000],
        stepMs: 3000,
        compareIdle: 5000,
        connectionsMs: 60_000,
      };
}

// ---------------------------------------------------------------------------------------------
// Child processes

class Child<Cmd, Rep extends { t: string }> {
  private readonly inbox: Rep[] = [];
  private waiter: ((r: Rep) => void) | undefined;
  private exited = false;

  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: Rep) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(m);
      } else this.inbox.push(m);
    });
    proc.on('exit', () => {
      this.exited = true;
    });
  }

  /** CPU seconds (user + system) so far, from /proc; 0 where /proc is missing. */
  cpuSeconds(): number {
    return cpuSecondsOf(this.proc.pid);
  }

  async ask<T extends Rep['t']>(cmd: Cmd, t: T): Promise<Extract<Rep, { t: T }>> {
    if (this.exited) throw new Error('a bench process exited');
    this.proc.send(cmd as object);
    return this.next(t);
  }

  next<T extends Rep['t']>(t: T): Promise<Extract<Rep, { t: T }>> {
    const check = (r: Rep): Extract<Rep, { t: T }> => {
      if (r.t === 'failed') throw new Error(`bench worker failed: ${(r as { message?: string }).message}`);
      if (r.t !== t) throw new Error(`expected ${t}, got ${r.t}`);
      return r as Extract<Rep, { t: T }>;
    };
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve().then(() => check(queued));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${t} within ${PHASE_TIMEOUT_MS} ms`)),
        PHASE_TIMEOUT_MS,
      );
      this.waiter = (r) => {
        clearTimeout(timer);
        try {
          resolve(check(r));
        } catch (err) {
          reject(err);
        }
      };
    });
  }

  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}

type Relay = Child<RelayCommand, RelayReport>;
type Worker = Child<WorkerCommand, WorkerReport>;

/** `bench`: gates opened for loopback; `defaults`: every default limit; `reference`: bench/reference-relay.ts. */
type RelayMode = 'bench' | 'defaults' | 'reference';

async function startRelay(
  opts: Options,
  label: string,
  mode: RelayMode = 'bench',
): Promise<{ relay: Relay; port: number; key: string; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-bench-'));
  const execArgv = ['--expose-gc'];
  if (opts.profile)
    execArgv.push(
      '--cpu-prof',
      `--cpu-prof-dir=${RESULTS_DIR}`,
      `--cpu-prof-name=relay-${label}-${Date.now()}.cpuprofile`,
    );
  const relay: Relay = new Child(
    fork(path.join(__dirname, 'relay-process.js'), [dir, mode], {
      execArgv,
      stdio: 'inherit',
    }),
  );
  const ready = await relay.next('ready');
  return { relay, port: ready.port, key: ready.publicKey, dir };
}

async function stopRelay(r: { relay: Relay; dir: string }): Promise<void> {
  try {
    await r.relay.ask({ t: 'stop' }, 'stopped');
  } catch {
    r.relay.kill();
  }
  fs.rmSync(r.dir, { recursive: true, force: true });
}

function startWorkers(n = WORKERS, first = 1): Worker[] {
  return Array.from(
    { length: n },
    (_, i) =>
      new Child(
        fork(path.join(__dirname, 'load-worker.js'), [], {
          env: { ...process.env, BENCH_WORKER: String(first + i) },
          stdio: 'inherit',
        }),
      ),
  );
}

/** Splits `n` into `k` near-equal parts. */
function split(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// Phases

interface ThroughputResult {
  clients: number;
  msgsPerSecond: number;
  errors: number;
  relayCpu: number;
  workersCpu: number;
  setupMs: number;
}

interface LatencyResult {
  clients: number;
  offeredPerSecond: number;
  deliveredPerSecond: number;
  lost: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

async function makePairs(
  workers: Worker[],
  port: number,
  key: string,
  clients: number,
  e2e: E2eMode,
  tag: string,
): Promise<number> {
  const start = performance.now();
  const shares = split(clients / 2, workers.length);
  await Promise.all(
    workers.map((w, i) =>
      shares[i] > 0
        ? w.ask({ t: 'pairs', port, relayKey: key, pairs: shares[i], prefix: `${tag}w${i}`, e2e }, 'ready')
        : Promise.resolve(),
    ),
  );
  return performance.now() - start;
}

async function closeClients(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.ask({ t: 'close' }, 'closed')));
}

async function measureThroughput(
  relay: Relay,
  workers: Worker[],
  clients: number,
  setupMs: number,
  p: ReturnType<typeof plan>,
): Promise<ThroughputResult> {
  // Enough in flight to keep the relay busy, no more than its delivery window per receiver.
  const window = Math.max(2, Math.min(100, Math.ceil(2000 / (clients / 2))));
  const cpu0 = relay.cpuSeconds();
  const wcpu0 = workers.reduce((s, w) => s + w.cpuSeconds(), 0);
  const t0 = performance.now();
  const rs = await Promise.all(
    workers.map((w) =>
      w.ask({ t: 'throughput', warmupMs: p.warmupMs, durationMs: p.throughputMs, window }, 'throughput'),
    ),
  );
  const wall = (performance.now() - t0) / 1000;
  const delivered = rs.reduce((s, r) => s + r.delivered, 0);
  return {
    clients,
    msgsPerSecond: (delivered * 1000) / p.throughputMs,
    errors: rs.reduce((s, r) => s + r.errors, 0),
    relayCpu: (relay.cpuSeconds() - cpu0) / wall,
    workersCpu: (workers.reduce((s, w) => s + w.cpuSeconds(), 0) - wcpu0) / wall,
    setupMs,
  };
}

async function measureLatency(
  workers: Worker[],
  clients: number,
  perSecond: number,
  p: ReturnType<typeof plan>,
): Promise<LatencyResult> {
  const shares = split(perSecond, workers.length);
  const rs = await Promise.all(
    workers.map((w, i) =>
      w.ask({ t: 'rate', perSecond: shares[i], warmupMs: p.warmupMs, durationMs: p.rateMs }, 'rate'),
    ),
  );
  const lat = rs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const sent = rs.reduce((s, r) => s + r.sent, 0);
  const delivered = rs.reduce((s, r) => s + r.delivered, 0);
  return {
    clients,
    offeredPerSecond: perSecond,
    deliveredPerSecond: (delivered * 1000) / p.rateMs,
    lost: Math.max(0, sent - delivered),
    p50: percentile(lat, 50),
    p95: percentile(lat, 95),
    p99: percentile(lat, 99),
    max: lat.length ? lat[lat.length - 1] : NaN,
  };
}

/** One batch of handshakes (connect, Noise XX, login, welcome, close) spread over the workers. */
async function handshakeBatch(
  workers: Worker[],
  port: number,
  key: string,
  count: number,
  prefix: string,
  maxMs: number,
) {
  const shares = split(count, workers.length);
  const rs = await Promise.all(
    workers.map((w, i) =>
      w.ask(
        {
          t: 'handshakes',
          port,
          relayKey: key,
          prefix: `${prefix}${i}`,
          count: shares[i],
          concurrency: 32,
          maxMs,
        },
        'handshakes',
      ),
    ),
  );
  return {
    done: rs.reduce((s, r) => s + r.done, 0),
    failed: rs.reduce((s, r) => s + r.failed, 0),
    ms: Math.max(...rs.map((r) => r.ms)),
    firstError: rs.find((r) => r.firstError)?.firstError,
  };
}

interface HandshakeResult {
  /** Handshakes run first and not measured, so V8 has compiled the relay's handshake path. */
  warmup: number;
  handshakes: number;
  failed: number;
  perSecond: number;
  /** Measured handshakes per second of the relay's CPU (user + system) over the measured batch. */
  perCore: number;
  /** The bench clients' CPU (both workers, user + system) per measured handshake, µs. */
  clientsCpuUs: number;
  firstError?: string;
}

/**
 * Handshakes against a fresh relay, read after a warm-up: `p.handshakeWarmup` handshakes first
 * (V8 compiles and optimises the handshake path in the relay and in the clients), then
 * `p.handshakes` measured, the relay's CPU read over the second batch only. Read over one cold
 * batch, the reference gave 1,034 a core over 1,500 handshakes and 1,417 over 9,000: the figure
 * was mostly how far the JIT had got.
 */
async function measureHandshakes(
  relay: Relay,
  workers: Worker[],
  port: number,
  key: string,
  p: ReturnType<typeof plan>,
): Promise<HandshakeResult> {
  const warm = await warmHandshakes(workers, port, key, p);
  const r = await measuredHandshakes(relay, workers, port, key, p, 'hm');
  return {
    ...r,
    warmup: warm.done,
    failed: r.failed + warm.failed,
    firstError: warm.firstError ?? r.firstError,
  };
}

/** The warm-up batch of `measureHandshakes`; throws when none succeeded. */
async function warmHandshakes(workers: Worker[], port: number, key: string, p: ReturnType<typeof plan>) {
  const warm = await handshakeBatch(workers, port, key, p.handshakeWarmup, 'hw', p.handshakeMs);
  if (warm.done === 0) throw new Error(`no warm-up handshake succeeded: ${warm.firstError}`);
  return warm;
}

/**
 * One measured batch of `p.handshakes`, the relay's CPU read over it only. `prefix` names its
 * identities: a new one per batch (a name is bound to the identity that registered it).
 */
async function measuredHandshakes(
  relay: Relay,
  workers: Worker[],
  port: number,
  key: string,
  p: ReturnType<typeof plan>,
  prefix: string,
): Promise<HandshakeResult> {
  const cpu0 = relay.cpuSeconds();
  const wcpu0 = workers.reduce((s, w) => s + w.cpuSeconds(), 0);
  const r = await handshakeBatch(workers, port, key, p.handshakes, prefix, p.handshakeMs);
  const cpu = relay.cpuSeconds() - cpu0;
  const wcpu = workers.reduce((s, w) => s + w.cpuSeconds(), 0) - wcpu0;
  return {
    warmup: 0,
    handshakes: r.done,
    failed: r.failed,
    perSecond: (r.done * 1000) / r.ms,
    perCore: cpu > 0 ? r.done / cpu : NaN,
    clientsCpuUs: r.done > 0 ? (wcpu * 1e6) / r.done : NaN,
    firstError: r.firstError,
  };
}

/** `measureHandshakes` against a fresh relay of `mode`. */
async function handshakesOf(opts: Options, workers: Worker[], p: ReturnType<typeof plan>, mode: RelayMode) {
  const h = await startRelay(opts, `handshakes-${mode}`, mode);
  try {
    return await measureHandshakes(h.relay, workers, h.port, h.key, p);
  } finally {
    await stopRelay(h);
  }
}

interface MemoryResult {
  connections: number;
  /**
   * (RSS now - RSS of the fresh relay) / connections, both less the young generation (below):
   * includes the relay's one-time costs.
   */
  rssBytesPerConnection: number;
  heapBytesPerConnection: number;
  /**
   * What the connections added since the previous size cost each (RSS less the young generation,
   * and heap + external, growth over the connections added): the one-time costs of the first
   * logins (code compiled, SQLite's page cache, malloc arenas) are not in it. Absent for the
   * first size.
   */
  marginal?: { from: number; rssBytesPerConnection: number; heapBytesPerConnection: number };
  /** The relay's whole RSS, young generation included. */
  rssMiB: number;
  /** V8's young generation, committed and empty after the GC before the reading. */
  youngMiB: number;
  /** Connecting, logging in and watching, from the first connect to the last answer. */
  setupSeconds: number;
  /** Making the clients' identities, before `setupSeconds` starts (not in it). */
  identitySeconds: number;
  firstError?: string;
}

/**
 * Idle logged-in connections (each watching IDLE_WATCHES names), added up to each of `sizes` in
 * turn, with the relay's memory read after each (after two full GCs, in the relay process). Both
 * relays are measured alike, and the figure to compare is `marginal`, from one size to the next
 * (issue 12), for two reasons the plain RSS / count hid:
 * - dividing the whole growth by the count charges each connection a share of one-time costs
 *   (30.9 KB "per connection" at 1,000 against 8.9 KB added by each of the next 2,000);
 * - V8's young generation grows to 32 MB during a burst of handshakes and stays committed though
 *   empty after a GC (it never shrank in 30 s of quiet here). It grows with the allocation rate,
 *   at some point in the first thousands of logins depending on load, so it is left out of the
 *   RSS figures (shown apart as `youngMiB`); left in, it made 1,000 -> 2,000 read 14 KB or 26 KB
 *   a connection in two runs of one build (7.7 KB and 10.6 KB without it). The compare adds
 *   2,000 then 2,000 more in the quick run, since the first thousand are still warming up.
 */
async function measureIdleMemory(
  opts: Options,
  workers: Worker[],
  sizes: readonly number[],
  mode: RelayMode = 'bench',
  maxMs = 120_000,
): Promise<MemoryResult[]> {
  const r = await startRelay(opts, `idle-${mode}`, mode);
  const out: MemoryResult[] = [];
  try {
    const base = await r.relay.ask({ t: 'mem' }, 'mem');
    const baseHeld = base.rss - base.young;
    let prev: { have: number; held: number; heap: number } | undefined;
    let have = 0;
    for (const target of sizes) {
      const shares = split(target - have, workers.length);
      // Identities first, off the clock: the setup timed is connecting, not key generation (a
      // bench client's identity was 18 % of its CPU while 6,000 connected).
      const made = await Promise.all(
        workers.map((w, i) => w.ask({ t: 'identities', count: shares[i] }, 'ready')),
      );
      const t0 = performance.now();
      const rs = await Promise.all(
        workers.map((w, i) =>
          w.ask(
            {
              t: 'idle',
              port: r.port,
              relayKey: r.key,
              prefix: `i${have}w${i}x`,
              count: shares[i],
              concurrency: 64,
              maxMs,
              watch: IDLE_WATCHES,
            },
            'ready',
          ),
        ),
      );
      have += rs.reduce((s, x) => s + x.connected, 0);
      const setupSeconds = (performance.now() - t0) / 1000;
      await new Promise((res) => setTimeout(res, 500));
      const m = await r.relay.ask({ t: 'mem' }, 'mem');
      const heap = m.heapUsed + m.external;
      const held = m.rss - m.young;
      out.push({
        connections: have,
        rssBytesPerConnection: (held - baseHeld) / have,
        heapBytesPerConnection: (heap - base.heapUsed - base.external) / have,
        ...(prev && have > prev.have
          ? {
              marginal: {
                from: prev.have,
                rssBytesPerConnection: (held - prev.held) / (have - prev.have),
                heapBytesPerConnection: (heap - prev.heap) / (have - prev.have),
              },
            }
          : {}),
        rssMiB: m.rss / 2 ** 20,
        youngMiB: m.young / 2 ** 20,
        setupSeconds,
        identitySeconds: Math.max(...made.map((x) => x.ms)) / 1000,
        firstError: rs.find((x) => x.firstError)?.firstError,
      });
      prev = { have, held, heap };
    }
    await closeClients(workers);
  } finally {
    await stopRelay(r);
  }
  return out;
}

interface AttackResult {
  attack: AttackKind | 'none';
  p50: number;
  p99: number;
  max: number;
  delivered: number;
  lost: number;
  honestErrors: number;
  attacker?: Extract<AttackReport, { t: 'attacked' }>;
}

/**
 * The honest user's latency during each attack of the issue 10 tests (and with none), against a
 * relay with every default limit. The honest pair comes from 127.0.0.2 and sends
 * HONEST_PER_SECOND texts a second; the attacker, a process of its own, comes from 127.0.0.64+.
 */
async function measureAttacks(opts: Options, p: ReturnType<typeof plan>): Promise<AttackResult[]> {
  const r = await startRelay(opts, 'attacks', 'defaults');
  const [honest] = startWorkers(1, 9);
  const attacker: Child<AttackCommand, AttackReport> = new Child(
    fork(path.join(__dirname, 'attack-worker.js'), [], { stdio: 'inherit' }),
  );
  const out: AttackResult[] = [];
  try {
    await honest.ask(
      {
        t: 'pairs',
        port: r.port,
        relayKey: r.key,
        pairs: 1,
        prefix: 'honest',
        e2e: opts.e2e,
        source: '127.0.0.2',
      },
      'ready',
    );
    const victim = 'honestr0';
    for (const attack of ['none' as const, ...ATTACKS]) {
      const rate = honest.ask(
        { t: 'rate', perSecond: HONEST_PER_SECOND, warmupMs: 0, durationMs: p.attackMs },
        'rate',
      );
      const attacked =
        attack === 'none'
          ? undefined
          : attacker.ask(
              {
                t: 'attack',
                kind: attack,
                port: r.port,
                relayKey: r.key,
                prefix: attack.replace(/-/g, '').slice(0, 8),
                victim,
                durationMs: p.attackMs,
              },
              'attacked',
            );
      const [h, a] = await Promise.all([rate, attacked]);
      const lat = [...h.latencies].sort((x, y) => x - y);
      out.push({
        attack,
        p50: percentile(lat, 50),
        p99: percentile(lat, 99),
        max: lat.length ? lat[lat.length - 1] : NaN,
        delivered: h.delivered,
        lost: Math.max(0, h.sent - h.delivered),
        honestErrors: h.errors,
        attacker: a,
      });
    }
    await honest.ask({ t: 'close' }, 'closed');
  } finally {
    honest.kill();
    attacker.kill();
    await stopRelay(r);
  }
  return out;
}

/** One relay's figures in the comparison with the reference (issue 12): medians of the rounds. */
interface Side {
  mode: 'bench' | 'reference';
  /** The round with the median msgs/s. */
  closedLoop: ThroughputResult;
  /** Median over the rounds of each round's relay CPU per message. */
  cpuUsPerMessage: number;
  /** Per offered rate, the round with the median p99 (`lost`: summed over the rounds). */
  steps: LatencyResult[];
  /** The highest offered rate whose median p99 is <= 10 ms, nothing lost in any round (0 if none). */
  sustained: number;
  /** It met the bound at every offered rate: `sustained` is a lower bound, not a limit found. */
  sustainedAtTop: boolean;
  /** The round with the median handshakes per core (`warmup`: the one warm-up batch before). */
  handshakes: HandshakeResult;
  idle: MemoryResult;
  /** Every round, in the order run. */
  rounds: {
    closedLoop: ThroughputResult[];
    cpuUsPerMessage: number[];
    steps: LatencyResult[][];
    handshakes: HandshakeResult[];
  };
}

/** p99 bound of the sustained rate (issue 12). */
const P99_BOUND_MS = 10;
const COMPARE_CLIENTS = 100;
/**
 * Rounds of each figure of the comparison, ChatSecure and the reference (and TLS) taking turns,
 * the order rotated each round. One run of each, one after the other, read 1.41x to 2.93x for
 * the same build within an hour on this VM (other tenants' load comes and goes, seen as steal
 * time and 20-40 ms scheduling gaps in a relay that had nothing to do): a round beside a round
 * shares that weather, and the median drops a round that met a storm.
 */
const COMPARE_ROUNDS = 3;

/** The item with the median `key` (the lower middle for an even count). */
function medianBy<T>(items: readonly T[], key: (x: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** `items` in round `i`'s order: rotated by `i`, so each goes first in turn. */
function rotated<T>(items: readonly T[], i: number): T[] {
  const k = i % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

const MODES = ['bench', 'reference'] as const;
type CompareMode = (typeof MODES)[number];

/**
 * The same load against ChatSecure's relay (its SQLite store on) and the reference, in
 * COMPARE_ROUNDS alternating rounds: 100 clients in 50 pairs on each relay, both relays up at
 * once with their own load workers (the idle side's workers wait, their clients connected), the
 * closed loop for CPU per message, then each offered rate in turn until a side's median p99
 * passes 10 ms or it loses a message; handshakes (fresh relays, one warm-up batch each, then
 * rounds beside `openssl s_time` rounds when openssl is present); idle memory once (it does not
 * move with the weather).
 */
async function measureCompare(
  opts: Options,
  workers: Worker[],
  p: ReturnType<typeof plan>,
): Promise<{ sides: Side[]; tls: TlsHandshakes | undefined; tlsRounds: TlsHandshakes[] }> {
  const log = (x: string) => process.stderr.write(`[bench] ${x}\n`);
  const name = (m: CompareMode) => (m === 'bench' ? 'chatsecure' : 'reference');
  const closed = { bench: [] as ThroughputResult[], reference: [] as ThroughputResult[] };
  const steps = { bench: [] as LatencyResult[][], reference: [] as LatencyResult[][] };
  const sustained = { bench: 0, reference: 0 };
  const extra = startWorkers(WORKERS, WORKERS + 1);
  const sets = { bench: workers, reference: extra };
  try {
    const relays = {
      bench: await startRelay(opts, 'compare-bench', 'bench'),
      reference: await startRelay(opts, 'compare-reference', 'reference'),
    };
    try {
      const setup = { bench: 0, reference: 0 };
      for (const m of MODES) {
        const r = relays[m];
        setup[m] = await makePairs(sets[m], r.port, r.key, COMPARE_CLIENTS, opts.e2e, `k${m[0]}`);
      }
      log(`closed loop, ${COMPARE_CLIENTS} clients, ${COMPARE_ROUNDS} rounds`);
      for (let i = 0; i < COMPARE_ROUNDS; i++) {
        for (const m of rotated(MODES, i)) {
          const t = await measureThroughput(relays[m].relay, sets[m], COMPARE_CLIENTS, setup[m], p);
          closed[m].push(t);
          log(
            `${name(m)} round ${i + 1}: ${fmt(t.msgsPerSecond)} msgs/s, ${fmt((t.relayCpu * 1e6) / t.msgsPerSecond, 1)} us CPU a message`,
          );
        }
      }
      const stepping = new Set<CompareMode>(MODES);
      for (const rate of p.steps) {
        if (stepping.size === 0) break;
        const runs = { bench: [] as LatencyResult[], reference: [] as LatencyResult[] };
        for (let i = 0; i < COMPARE_ROUNDS; i++) {
          for (const m of rotated(MODES, i)) {
            if (stepping.has(m))
              runs[m].push(await measureLatency(sets[m], COMPARE_CLIENTS, rate, { ...p, rateMs: p.stepMs }));
          }
        }
        for (const m of MODES) {
          if (!stepping.has(m)) continue;
          steps[m].push(runs[m]);
          const med = medianBy(runs[m], (l) => l.p99);
          const lost = runs[m].reduce((n, l) => n + l.lost, 0);
          log(
            `${name(m)}: ${rate}/s offered: p99 ${runs[m].map((l) => fmt(l.p99, 2)).join(' / ')} ms (median ${fmt(med.p99, 2)}), lost ${lost}`,
          );
          if (med.p99 <= P99_BOUND_MS && lost === 0) sustained[m] = rate;
          else stepping.delete(m);
        }
      }
      await Promise.all(MODES.map((m) => closeClients(sets[m])));
    } finally {
      await Promise.all(MODES.map((m) => stopRelay(relays[m])));
    }
  } finally {
    for (const w of extra) w.kill();
  }

  log(
    `handshakes: ${p.handshakeWarmup} to warm up each relay, then ${COMPARE_ROUNDS} rounds of ${p.handshakes}`,
  );
  const hs = { bench: [] as HandshakeResult[], reference: [] as HandshakeResult[] };
  const warmups = { bench: 0, reference: 0 };
  const tlsRounds: TlsHandshakes[] = [];
  const hrelays = {
    bench: await startRelay(opts, 'handshakes-bench', 'bench'),
    reference: await startRelay(opts, 'handshakes-reference', 'reference'),
  };
  const tlsServer = await startTlsServer();
  try {
    for (const m of MODES)
      warmups[m] = (await warmHandshakes(workers, hrelays[m].port, hrelays[m].key, p)).done;
    const turns: (CompareMode | 'tls')[] = tlsServer ? [...MODES, 'tls'] : [...MODES];
    for (let i = 0; i < COMPARE_ROUNDS; i++) {
      for (const m of rotated(turns, i)) {
        if (m === 'tls') {
          const t = await tlsServer?.run(opts.quick ? 3 : 8);
          if (t) tlsRounds.push(t);
          log(`TLS 1.3 round ${i + 1}: ${t ? fmt(t.perCore) : '-'} handshakes per server core`);
          continue;
        }
        const r = hrelays[m];
        const h = await measuredHandshakes(r.relay, workers, r.port, r.key, p, `hm${i}`);
        hs[m].push(h);
        log(`${name(m)} handshakes round ${i + 1}: ${fmt(h.perCore)} per relay core`);
      }
    }
  } finally {
    tlsServer?.stop();
    await Promise.all(MODES.map((m) => stopRelay(hrelays[m])));
  }

  const sides: Side[] = [];
  for (const m of MODES) {
    log(`${name(m)}: ${p.compareIdle} then ${2 * p.compareIdle} idle connections`);
    const [, idle] = await measureIdleMemory(opts, workers, [p.compareIdle, 2 * p.compareIdle], m);
    const cpu = closed[m].map((t) => (t.relayCpu * 1e6) / t.msgsPerSecond);
    const h = medianBy(hs[m], (x) => x.perCore);
    sides.push({
      mode: m,
      closedLoop: medianBy(closed[m], (t) => t.msgsPerSecond),
      cpuUsPerMessage: medianBy(cpu, (x) => x),
      steps: steps[m].map((runs) => ({
        ...medianBy(runs, (l) => l.p99),
        lost: runs.reduce((n, l) => n + l.lost, 0),
      })),
      sustained: sustained[m],
      sustainedAtTop: sustained[m] === p.steps[p.steps.length - 1],
      handshakes: {
        ...h,
        warmup: warmups[m],
        failed: hs[m].reduce((n, x) => n + x.failed, 0),
        firstError: hs[m].find((x) => x.firstError)?.firstError,
      },
      idle,
      rounds: { closedLoop: closed[m], cpuUsPerMessage: cpu, steps: steps[m], handshakes: hs[m] },
    });
  }
  return {
    sides,
    tls: tlsRounds.length ? medianBy(tlsRounds, (t) => t.perCore) : undefined,
    tlsRounds,
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!ensureFdLimit()) return;
  const opts = parseArgs(process.argv.slice(2));
  const p = plan(opts.quick);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const started = new Date();
  const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
  if (process.argv.includes('--cluster')) {
    // `--cluster`: 1 and 3 relays on Redis beside one relay on SQLite (issue 14, bench/cluster.ts).
    const { clusterBench, clusterTable } = await import('./cluster.js');
    const rows = await clusterBench(opts.quick, log);
    process.stdout.write(clusterTable(rows));
    const file = `cluster-${started.toISOString().replace(/[:.]/g, '-')}.json`;
    fs.writeFileSync(path.join(RESULTS_DIR, file), JSON.stringify(rows, null, 2) + '\n');
    return;
  }

  const want = (part: string) => !opts.only || opts.only.has(part);
  let crypto: CryptoRow[] = [];
  if (want('crypto')) {
    log('crypto primitive rates');
    crypto = cryptoRates(p.cryptoMs);
  }

  let storage: StorageResult | undefined;
  if (want('storage')) {
    log('client store: plain and encrypted');
    storage = storageBench(opts.quick);
  }
  if (opts.only?.has('storage') && opts.only.size === 1) {
    process.stdout.write(storageTable(storage!) + '\n');
    return;
  }

  if (opts.only?.has('ui')) {
    // `--only ui`: keystroke → screen updated with 100 conversations, 10,000 messages (issue 11).
    const { uiKeystroke } = await import('./ui-keystroke.js');
    const ui = await uiKeystroke();
    log(
      `ui keystroke → screen: p50 ${ui.p50Ms} ms, p99 ${ui.p99Ms} ms, CPU ${ui.cpuPerKeyMs} ms a key (${ui.messages} messages)`,
    );
    fs.writeFileSync(
      path.join(RESULTS_DIR, `ui-keystroke-${started.toISOString().replace(/[:.]/g, '-')}.json`),
      JSON.stringify(ui, null, 2) + '\n',
    );
    if (opts.only.size === 1) return;
  }
  if (opts.only?.has('groups')) {
    // `--only groups`: one message to a group of 100 (issue 16), bench/groups.ts.
    const { groupBench } = await import('./groups.js');
    const g = await groupBench(opts.quick);
    log(
      `groups: sender CPU ${g.senderKeySealMs} ms (sender key) vs ${g.pairwiseEncryptsMs} ms (100 pairwise); ` +
        `fan-out p50 ${g.fanoutP50Ms} / p99 ${g.fanoutP99Ms} ms; all 100 have it p50 ${g.allReceivedP50Ms} / p99 ${g.allReceivedP99Ms} ms`,
    );
    const c = g.clients;
    log(
      `groups, real clients: sendGroup CPU ${c.sendGroupCpuMs} ms vs ${c.pairwiseSendsCpuMs} ms (100 pairwise sends); ` +
        `relay answered all 100 p50 ${c.fanoutP50Ms} / p99 ${c.fanoutP99Ms} ms; all 100 clients stored it p50 ${c.allReceivedP50Ms} / p99 ${c.allReceivedP99Ms} ms (setup ${c.setupMs} ms)`,
    );
    fs.writeFileSync(
      path.join(RESULTS_DIR, `groups-${started.toISOString().replace(/[:.]/g, '-')}.json`),
      JSON.stringify(g, null, 2) + '\n',
    );
    if (opts.only.size === 1) return;
  }
  const workers = startWorkers();
  const throughput: ThroughputResult[] = [];
  const latency: LatencyResult[] = [];
  const handshakes: (HandshakeResult & { mode: RelayMode })[] = [];
  let memory: MemoryResult[] = [];
  let attacks: AttackResult[] = [];
  const sides: Side[] = [];
  let tls: TlsHandshakes | undefined;
  let tlsRounds: TlsHandshakes[] = [];
  let disk: { p50: number; p99: number } | undefined;
  const reached: (MemoryResult & { mode: RelayMode })[] = [];
  const fds = fdLimit();
  try {
    if (want('throughput')) {
      const r = await startRelay(opts, 'load');
      try {
        for (const clients of p.sizes) {
          log(`throughput with ${clients} clients`);
          const setupMs = await makePairs(workers, r.port, r.key, clients, opts.e2e, `c${clients}`);
          throughput.push(await measureThroughput(r.relay, workers, clients, setupMs, p));
          if (clients === Math.max(...p.sizes)) {
            for (const rate of p.rates) {
              log(`latency at ${rate}/s with ${clients} clients`);
              latency.push(await measureLatency(workers, clients, rate, p));
            }
          }
          await closeClients(workers);
        }
      } finally {
        await stopRelay(r);
      }
    }
    // Fresh relays: closing 1,000 clients leaves the old one busy with ~500,000 presence messages.
    // Both relays and TLS, so `--only handshakes` is a short run with its ratios.
    if (want('handshakes')) {
      for (const mode of ['bench', 'reference'] as const) {
        log(`handshakes (${mode}: ${p.handshakeWarmup} to warm up, then ${p.handshakes} measured)`);
        handshakes.push({ mode, ...(await handshakesOf(opts, workers, p, mode)) });
      }
      if (!want('compare')) {
        log('TLS 1.3 handshakes (openssl s_time)');
        tls = await opensslHandshakes(opts.quick ? 3 : 8);
      }
    }
    if (want('idle')) {
      log(`idle connections (each watching ${IDLE_WATCHES} others)`);
      memory = await measureIdleMemory(opts, workers, p.idle);
    }
    if (want('compare')) {
      log('ChatSecure beside the minimal per-hop-AEAD reference relay (and TLS 1.3)');
      const c = await measureCompare(opts, workers, p);
      sides.push(...c.sides);
      tls = c.tls;
      tlsRounds = c.tlsRounds;
      disk = fsyncLatency();
    }
    if (want('connections')) {
      for (const mode of ['bench', 'reference'] as const) {
        log(
          `connections reached (${mode}), up to the fd limit ${fds.soft}, for at most ${p.connectionsMs / 1000} s`,
        );
        const [m] = await measureIdleMemory(opts, workers, [fds.soft], mode, p.connectionsMs);
        reached.push({ mode, ...m });
      }
    }
    if (want('attacks')) {
      log('the honest user during each attack');
      attacks = await measureAttacks(opts, p);
    }
  } finally {
    for (const w of workers) w.kill();
  }
  let client: Awaited<ReturnType<typeof measureClient>> | undefined;
  if (want('client')) {
    log('client: hand-over to the peer Client, 1 and 100 conversations, and a burst');
    client = await measureClient(opts.quick);
  }

  const result = {
    client,
    storage,
    started: started.toISOString(),
    mode: opts.quick ? 'quick' : 'default',
    e2e: opts.e2e,
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      node: process.version,
      memGiB: os.totalmem() / 2 ** 30,
    },
    throughput,
    latency,
    handshakes,
    memory,
    attacks,
    compare: { rounds: COMPARE_ROUNDS, sides, tls, tlsRounds, reached, fdLimit: fds, fsyncMs: disk },
    crypto,
  };
  const file = path.join(RESULTS_DIR, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');

  const out: string[] = [];
  out.push(
    `ChatSecure bench (${result.mode}, e2e=${opts.e2e}, ${result.machine.cpus} CPUs, Node ${process.version})`,
    '',
  );
  if (throughput.length)
    out.push(
      table([
        ['relay throughput', 'msgs/s', 'relay CPU', 'workers CPU', 'errors', 'setup s'],
        ...throughput.map((t) => [
          `${t.clients} clients (${t.clients / 2} pairs)`,
          fmt(t.msgsPerSecond),
          fmt(t.relayCpu, 2),
          fmt(t.workersCpu, 2),
          fmt(t.errors),
          fmt(t.setupMs / 1000, 1),
        ]),
      ]),
      '',
    );
  if (latency.length)
    out.push(
      table([
        ['latency (send to decrypted)', 'delivered/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'lost'],
        ...latency.map((l) => [
          `${fmt(l.offeredPerSecond)}/s offered, ${l.clients} clients`,
          fmt(l.deliveredPerSecond),
          fmt(l.p50, 2),
          fmt(l.p95, 2),
          fmt(l.p99, 2),
          fmt(l.max, 1),
          fmt(l.lost),
        ]),
      ]),
      '',
    );
  if (handshakes.length)
    out.push(
      table([
        [
          `handshakes (Noise XX + login + welcome), after ${p.handshakeWarmup} to warm up`,
          'per relay core',
          'a second (wall)',
          'clients CPU us each',
          'done',
          'failed',
        ],
        ...handshakes.map((h) => [
          h.mode === 'bench' ? 'ChatSecure' : 'reference',
          fmt(h.perCore),
          fmt(h.perSecond),
          fmt(h.clientsCpuUs),
          fmt(h.handshakes),
          `${fmt(h.failed)}${h.firstError ? ` (${h.firstError})` : ''}`,
        ]),
        ...(tls
          ? [
              [
                'TLS 1.3 (openssl s_time -new)',
                fmt(tls.perCore),
                fmt(tls.perSecond),
                '-',
                fmt(tls.connections),
                '-',
              ],
            ]
          : []),
      ]),
      '',
    );
  if (memory.length)
    out.push(
      table([
        [
          `idle connections (${IDLE_WATCHES} watches each)`,
          'RSS B/conn added',
          'heap+ext B/conn added',
          'RSS B/conn (all / count)',
          'relay RSS MiB',
          'of it young gen MiB',
          'setup s',
        ],
        ...memory.map((m) => [
          fmt(m.connections),
          m.marginal ? `${fmt(m.marginal.rssBytesPerConnection)} (from ${fmt(m.marginal.from)})` : '-',
          m.marginal ? fmt(m.marginal.heapBytesPerConnection) : '-',
          fmt(m.rssBytesPerConnection),
          fmt(m.rssMiB, 1),
          fmt(m.youngMiB, 1),
          fmt(m.setupSeconds, 1),
        ]),
      ]),
      '',
    );
  out.push(...compareTable(sides, tls, reached, fds));
  if (disk)
    out.push(
      `disk: a 4 KiB append + fsync takes p50 ${fmt(disk.p50, 2)} ms, p99 ${fmt(disk.p99, 2)} ms here (the floor under a durable commit, which ChatSecure waits for before answering sent unless the recipient acks first; to an online recipient it delivers before the insert commits; the reference stores nothing)`,
      `load average while the bench ran: ${os
        .loadavg()
        .map((x) => fmt(x, 1))
        .join(' ')} on ${os.cpus().length} CPUs`,
      '',
    );
  if (attacks.length)
    out.push(
      table([
        [
          `honest user during an attack (${HONEST_PER_SECOND}/s)`,
          'p50 ms',
          'p99 ms',
          'max ms',
          'lost',
          'errors',
          'attacker conns',
          'requests',
          'closed by relay',
        ],
        ...attacks.map((a) => [
          a.attack,
          fmt(a.p50, 2),
          fmt(a.p99, 2),
          fmt(a.max, 1),
          fmt(a.lost),
          fmt(a.honestErrors),
          a.attacker ? fmt(a.attacker.connections) : '-',
          a.attacker ? fmt(a.attacker.requests) : '-',
          a.attacker ? fmt(a.attacker.closedByRelay) : '-',
        ]),
      ]),
      '',
    );
  if (crypto.length)
    out.push(
      table([
        ['crypto primitive (ops/s)', 'tweetnacl', 'node native'],
        ...crypto.map((c) => [
          c.op,
          c.tweetnacl === undefined ? '-' : fmt(c.tweetnacl),
          c.native === undefined ? '-' : fmt(c.native),
        ]),
      ]),
      '',
    );
  if (client) {
    out.push(
      table([
        ['client → peer Client (ms)', 'messages', 'p50', 'p99'],
        ...client.latency.map((l) => [
          `${l.conversations} conversations`,
          fmt(l.messages),
          fmt(l.p50Ms, 1),
          fmt(l.p99Ms, 1),
        ]),
      ]),
      '',
      table([
        ['client burst', 'messages', 'seconds', 'out of order', 'rate-limit errors'],
        [
          'one sender',
          fmt(client.burst.messages),
          fmt(client.burst.seconds, 1),
          fmt(client.burst.outOfOrder),
          fmt(client.burst.rateLimitErrors),
        ],
      ]),
      '',
    );
  }
  if (storage) out.push(storageTable(storage), '');
  out.push(`results: ${path.relative(process.cwd(), file)}`);
  process.stdout.write(out.join('\n') + '\n');
}

function storageTable(s: StorageResult): string {
  return (
    table([
      ['client store', 'store p50 ms', 'store p99 ms', `load ${s.loadMessages} ms`],
      ...s.rows.map((r) => [
        r.encrypted ? 'encrypted' : 'plain',
        fmt(r.storeP50Ms, 2),
        fmt(r.storeP99Ms, 2),
        fmt(r.loadMs, 1),
      ]),
    ]) +
    `\nencryption costs ${fmt(s.storeOverheadPct, 1)} % per single-message transaction (${s.transactions} each), ` +
    `${fmt(s.loadOverheadPct, 1)} % on load`
  );
}

/** ChatSecure beside the reference, each figure with its ratio (issue 12). */
function compareTable(
  sides: readonly Side[],
  tls: TlsHandshakes | undefined,
  reached: readonly (MemoryResult & { mode: RelayMode })[],
  fds: FdLimit,
): string[] {
  const out: string[] = [];
  const cs = sides.find((x) => x.mode === 'bench');
  const ref = sides.find((x) => x.mode === 'reference');
  const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a / b) ? `${fmt(a / b, 2)}x` : '-');
  if (cs && ref) {
    const row = (label: string, a: number, b: number, digits = 0) => [
      label,
      fmt(a, digits),
      fmt(b, digits),
      ratio(a, b),
    ];
    out.push(
      table([
        [
          `ChatSecure beside the reference (medians of ${COMPARE_ROUNDS} alternating rounds)`,
          'ChatSecure',
          'reference',
          'ratio',
        ],
        row(
          `msgs/s at p99 <= ${P99_BOUND_MS} ms (${COMPARE_CLIENTS} clients, stepped)`,
          cs.sustained,
          ref.sustained,
        ),
        row('msgs/s closed loop', cs.closedLoop.msgsPerSecond, ref.closedLoop.msgsPerSecond),
        row('relay CPU us per message (closed loop)', cs.cpuUsPerMessage, ref.cpuUsPerMessage, 1),
        row(
          `handshakes per relay core (a second of CPU, rounds of ${fmt(cs.handshakes.handshakes)} after ${fmt(cs.handshakes.warmup)} to warm up)`,
          cs.handshakes.perCore,
          ref.handshakes.perCore,
        ),
        row('handshakes a second (wall)', cs.handshakes.perSecond, ref.handshakes.perSecond),
        row(
          'bench clients CPU us per handshake (on the same cores)',
          cs.handshakes.clientsCpuUs,
          ref.handshakes.clientsCpuUs,
        ),
        row(
          `RSS bytes per idle connection (added ${fmt(cs.idle.marginal?.from ?? 0)} -> ${fmt(cs.idle.connections)}, less young gen)`,
          cs.idle.marginal?.rssBytesPerConnection ?? NaN,
          ref.idle.marginal?.rssBytesPerConnection ?? NaN,
        ),
        row(
          'heap+external bytes per idle connection (added)',
          cs.idle.marginal?.heapBytesPerConnection ?? NaN,
          ref.idle.marginal?.heapBytesPerConnection ?? NaN,
        ),
        row(
          `RSS growth / connections (${fmt(cs.idle.connections)}, with one-time costs)`,
          cs.idle.rssBytesPerConnection,
          ref.idle.rssBytesPerConnection,
        ),
        row('relay RSS MiB (young generation included)', cs.idle.rssMiB, ref.idle.rssMiB, 1),
        row('of it the young generation MiB (empty after GC)', cs.idle.youngMiB, ref.idle.youngMiB, 1),
      ]),
      '',
    );
    if (tls)
      out.push(
        `TLS 1.3 (openssl s_time -new, X25519, ChaCha20-Poly1305, Ed25519 cert, after ${tls.warmupSeconds} s to warm up; the median round): ${fmt(tls.perCore)} handshakes per server core, ${fmt(tls.perSecond)}/s wall; ChatSecure/TLS ${ratio(cs.handshakes.perCore, tls.perCore)}`,
        '',
      );
    out.push(
      table([
        ['offered msgs/s (100 clients)', 'ChatSecure p99 ms', 'lost', 'reference p99 ms', 'lost'],
        ...p99Rows(cs.steps, ref.steps),
      ]),
      '',
    );
    for (const side of [cs, ref])
      if (side.sustainedAtTop)
        out.push(
          `${side.mode === 'bench' ? 'ChatSecure' : 'the reference'} met the bound at every offered rate up to ${fmt(side.sustained)}/s: its sustained figure is a lower bound, and so is the ratio's ${side.mode === 'bench' ? 'numerator' : 'denominator'}`,
          '',
        );
  }
  if (reached.length)
    out.push(
      table([
        [
          'connections reached',
          'connections',
          'setup s (identities made before)',
          'RSS MiB',
          'what stopped it',
        ],
        ...reached.map((m) => [
          m.mode === 'bench' ? 'ChatSecure (20 watches each)' : 'reference',
          fmt(m.connections),
          fmt(m.setupSeconds, 1),
          fmt(m.rssMiB, 1),
          stoppedBy(m, fds),
        ]),
      ]),
      `fd limit: soft ${fds.soft}, hard ${fds.hard}; stopped by ${fds.stoppedBy}`,
      '',
    );
  return out;
}

/** Why a connections-reached run ended: the relay's fd cap, another error, the count or the time. */
function stoppedBy(m: MemoryResult, fds: FdLimit): string {
  // The relay holds at most the soft fd limit less FD_RESERVE; past that it drops new connections.
  if (m.connections >= fds.soft - FD_RESERVE)
    return `the fd limit (${fmt(fds.soft)} less ${FD_RESERVE} kept by the relay; later connects reset)`;
  return m.firstError ?? (m.connections >= fds.soft ? 'the count asked (the fd limit)' : 'the time bound');
}

function p99Rows(a: readonly LatencyResult[], b: readonly LatencyResult[]): string[][] {
  const rates = [...new Set([...a, ...b].map((l) => l.offeredPerSecond))].sort((x, y) => x - y);
  return rates.map((rate) => {
    const x = a.find((l) => l.offeredPerSecond === rate);
    const y = b.find((l) => l.offeredPerSecond === rate);
    return [
      fmt(rate),
      x ? fmt(x.p99, 2) : '-',
      x ? fmt(x.lost) : '-',
      y ? fmt(y.p99, 2) : '-',
      y ? fmt(y.lost) : '-',
    ];
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
