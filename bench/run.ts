/**
 * `npm run bench` (issue 6): relay throughput and latency end to end, handshakes a second, relay
 * memory per idle connection, and crypto primitive rates. Prints a table and writes
 * bench/results/<timestamp>.json.
 *
 *   npm run bench                    the default run (bounded to a few minutes)
 *   npm run bench -- --quick         a short run (under a minute)
 *   npm run bench -- --e2e ratchet   load clients use the Double Ratchet instead of one AEAD seal
 *   npm run bench -- --profile       the relay writes a V8 CPU profile into bench/results/
 *   npm run bench -- --cluster       1 and 3 relays on Redis beside one on SQLite (bench/cluster.ts)
 *   npm run bench -- --only storage  just the client store, plain and encrypted (bench/storage.ts)
 *
 * Topology: this process forks one relay process (bench/relay-process.ts) and two load workers
 * (bench/load-worker.ts), all on loopback. Nothing here shares a process with the relay.
 */
import { type ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { measureClient } from './client-latency';
import { cryptoRates, type CryptoRow } from './crypto-rates';
import type { E2eMode, RelayCommand, RelayReport, WorkerCommand, WorkerReport } from './ipc';
import { fmt, percentile, table } from './stats';
import { storageBench, type StorageResult } from './storage';

const WORKERS = 2;
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
        handshakes: 1500,
        handshakeMs: 4000,
        idle: [1000],
      }
    : {
        cryptoMs: 400,
        sizes: [10, 100, 1000],
        warmupMs: 1000,
        throughputMs: 8000,
        rates: [5000, 10000],
        rateMs: 6000,
        handshakes: 6000,
        handshakeMs: 10000,
        idle: [1000, 5000],
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
    try {
      const f = fs.readFileSync(`/proc/${this.proc.pid}/stat`, 'utf8');
      const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return 0;
    }
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

async function startRelay(
  opts: Options,
  label: string,
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
    fork(path.join(__dirname, 'relay-process.js'), [dir], { execArgv, stdio: 'inherit' }),
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

function startWorkers(): Worker[] {
  return Array.from(
    { length: WORKERS },
    (_, i) =>
      new Child(
        fork(path.join(__dirname, 'load-worker.js'), [], {
          env: { ...process.env, BENCH_WORKER: String(i + 1) },
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

async function measureHandshakes(workers: Worker[], port: number, key: string, p: ReturnType<typeof plan>) {
  const shares = split(p.handshakes, workers.length);
  const rs = await Promise.all(
    workers.map((w, i) =>
      w.ask(
        {
          t: 'handshakes',
          port,
          relayKey: key,
          prefix: `hw${i}`,
          count: shares[i],
          concurrency: 32,
          maxMs: p.handshakeMs,
        },
        'handshakes',
      ),
    ),
  );
  const done = rs.reduce((s, r) => s + r.done, 0);
  const ms = Math.max(...rs.map((r) => r.ms));
  const firstError = rs.find((r) => r.firstError)?.firstError;
  return {
    handshakes: done,
    failed: rs.reduce((s, r) => s + r.failed, 0),
    perSecond: (done * 1000) / ms,
    firstError,
  };
}

interface MemoryResult {
  connections: number;
  rssBytesPerConnection: number;
  heapBytesPerConnection: number;
  rssMiB: number;
  setupSeconds: number;
}

async function measureIdleMemory(
  opts: Options,
  workers: Worker[],
  p: ReturnType<typeof plan>,
): Promise<MemoryResult[]> {
  const r = await startRelay(opts, 'idle');
  const out: MemoryResult[] = [];
  try {
    const base = await r.relay.ask({ t: 'mem' }, 'mem');
    let have = 0;
    for (const target of p.idle) {
      const shares = split(target - have, workers.length);
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
              maxMs: 120_000,
            },
            'ready',
          ),
        ),
      );
      have += rs.reduce((s, x) => s + x.connected, 0);
      const setupSeconds = (performance.now() - t0) / 1000;
      await new Promise((res) => setTimeout(res, 500));
      const m = await r.relay.ask({ t: 'mem' }, 'mem');
      out.push({
        connections: have,
        rssBytesPerConnection: (m.rss - base.rss) / have,
        heapBytesPerConnection: (m.heapUsed + m.external - base.heapUsed - base.external) / have,
        rssMiB: m.rss / 2 ** 20,
        setupSeconds,
      });
    }
    await closeClients(workers);
  } finally {
    await stopRelay(r);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
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
    fs.writeFileSync(
      path.join(RESULTS_DIR, `groups-${started.toISOString().replace(/[:.]/g, '-')}.json`),
      JSON.stringify(g, null, 2) + '\n',
    );
    if (opts.only.size === 1) return;
  }
  const workers = startWorkers();
  const throughput: ThroughputResult[] = [];
  const latency: LatencyResult[] = [];
  let handshakes: Awaited<ReturnType<typeof measureHandshakes>> | undefined;
  let memory: MemoryResult[] = [];
  try {
    const r = await startRelay(opts, 'load');
    try {
      for (const clients of want('throughput') ? p.sizes : []) {
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
    // A fresh relay: closing 1,000 clients leaves the old one busy with ~500,000 presence messages.
    if (want('handshakes')) {
      log('handshakes');
      const h = await startRelay(opts, 'handshakes');
      try {
        handshakes = await measureHandshakes(workers, h.port, h.key, p);
      } finally {
        await stopRelay(h);
      }
    }
    if (want('idle')) {
      log('idle connections');
      memory = await measureIdleMemory(opts, workers, p);
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
    crypto,
  };
  const file = path.join(RESULTS_DIR, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');

  const out: string[] = [];
  out.push(
    `ChatSecure bench (${result.mode}, e2e=${opts.e2e}, ${result.machine.cpus} CPUs, Node ${process.version})`,
    '',
  );
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
  if (handshakes) {
    out.push(
      `handshakes (Noise XX + login + welcome): ${fmt(handshakes.perSecond)}/s (${handshakes.handshakes} done, ${handshakes.failed} failed${handshakes.firstError ? `: ${handshakes.firstError}` : ''})`,
      '',
    );
  }
  out.push(
    table([
      ['idle connections', 'RSS B/conn', 'heap+ext B/conn', 'relay RSS MiB', 'setup s'],
      ...memory.map((m) => [
        fmt(m.connections),
        fmt(m.rssBytesPerConnection),
        fmt(m.heapBytesPerConnection),
        fmt(m.rssMiB, 1),
        fmt(m.setupSeconds, 1),
      ]),
    ]),
    '',
  );
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

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
