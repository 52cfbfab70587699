/**
 * `npm run bench -- --cluster` (issue 14): throughput and send → deliver latency of the real
 * binary as one relay on SQLite, one relay on Redis, and three relays on one Redis, all on
 * loopback. Relays and redis-server are child processes; the load clients (bare protocol
 * clients, one secure channel each) run in this process. With three relays every sender is on
 * another relay than its receiver, so each message crosses Redis pub/sub.
 *
 * On a 2-core machine shared with the load clients, three relays cannot scale: the figure shows
 * what Redis costs per message (a script per enqueue, a publish, a read and an ack per delivery),
 * not the scaling of a real deployment with a machine per relay. The output says so.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createIdentity } from '../lib/crypto/identity';
import { toBase64 } from '../lib/crypto/primitives';
import { parseRelayMessage, type ClientMessage, type RelayMessage } from '../lib/net/messages';
import { connectSecureChannel, type SecureChannel } from '../lib/net/secure-channel';
import { fmt, percentile, table } from './stats';

const BIN = path.join(__dirname, '..', '..', 'bin', 'chatsecure');
const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
/** Any child must be ready, and any phase done, within this; a hung run fails, never hangs. */
const TIMEOUT_MS = 120_000;
/** Unanswered sends per sender: a pipelined client, as the real one is. */
const IN_FLIGHT = 64;
const PAIRS = 6;
/** The bench connects from one address and pushes hard: gates open (as bench/relay-process.ts). */
const LIMITS = `[limits]
requests-per-second = 1000000
request-burst = 1000000
registrations-per-address-per-hour = 1000000
max-handshakes-per-address = 100000
queue-per-address = 1000000000
queue-per-new-sender = 100000
queue-per-sender = 100000
`;

export interface ClusterRow {
  readonly setup: string;
  readonly relays: number;
  readonly messages: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly delivered: number;
  readonly queued: number;
}

type Channel = SecureChannel<RelayMessage, ClientMessage>;

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

/** Spawns `cmd` and resolves once its output matches `ready`. */
function startChild(
  cmd: string,
  args: string[],
  ready: RegExp,
): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(cmd)} did not start: ${out}`));
    }, TIMEOUT_MS);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({ child, out: () => out });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(cmd)} exited (${code ?? signal}): ${out}`));
    });
  });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

async function connect(port: number, name: string): Promise<Channel> {
  const id = createIdentity();
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
  const { channel } = await connectSecureChannel<RelayMessage, ClientMessage>(socket, {
    staticKey: id.dhKey,
    verifyServer: () => undefined,
    login: { user: name, signKey: toBase64(id.signKey.publicKey), idcert: toBase64(id.idcert) },
    parse: parseRelayMessage,
  });
  const welcome = new Promise<void>((resolve) =>
    channel.once('message', (m) => (m.t === 'welcome' ? resolve() : undefined)),
  );
  channel.start();
  await welcome;
  return channel;
}

/** PAIRS senders stream `perPair` messages each to their receivers; answers the figures. */
async function load(ports: readonly number[], perPair: number, tag: string) {
  const n = ports.length;
  const pairs = await Promise.all(
    Array.from({ length: PAIRS }, async (_, i) => {
      const to = `${tag}r${i}`;
      // Receiver on relay i, sender on the next one: with several relays, every message crosses.
      const receiver = await connect(ports[i % n], to);
      const sender = await connect(ports[(i + 1) % n], `${tag}s${i}`);
      return { sender, receiver, to };
    }),
  );
  const latencies: number[] = [];
  let delivered = 0;
  let queued = 0;
  const started = performance.now();
  await Promise.all(
    pairs.map(
      ({ sender, receiver, to }) =>
        new Promise<void>((resolve, reject) => {
          let next = 0;
          let got = 0;
          const sentAt = new Map<string, number>();
          const timer = setTimeout(() => reject(new Error(`${to}: got ${got} of ${perPair}`)), TIMEOUT_MS);
          const pump = (): void => {
            while (next < perPair && sentAt.size < IN_FLIGHT) {
              const id = randomBytes(16).toString('hex');
              sentAt.set(id, performance.now());
              sender.send({ t: 'send', rid: String(next), id, to, env: toBase64(randomBytes(200)) });
              next++;
            }
          };
          let answered = 0;
          // Done when every message is delivered and every send answered (either may come last).
          const check = (): void => {
            if (got < perPair || answered < perPair) return;
            clearTimeout(timer);
            resolve();
          };
          sender.on('message', (m) => {
            if (m.t === 'sent') {
              if (m.status === 'delivered') delivered++;
              else queued++;
              answered++;
              check();
            } else if (m.t === 'error') {
              clearTimeout(timer);
              reject(new Error(`${to}: ${m.code} ${m.message}`));
            }
          });
          receiver.on('message', (m) => {
            if (m.t !== 'deliver') return;
            receiver.send({ t: 'ack', id: m.id });
            const at = sentAt.get(m.id);
            if (at === undefined) return;
            latencies.push(performance.now() - at);
            sentAt.delete(m.id);
            got++;
            check();
            pump();
          });
          pump();
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  for (const { sender, receiver } of pairs) {
    sender.close();
    receiver.close();
  }
  latencies.sort((a, b) => a - b);
  return {
    messages: latencies.length,
    perSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    delivered,
    queued,
  };
}

async function startRedis(dir: string) {
  const port = await freePort();
  const r = await startChild(
    REDIS_SERVER,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--logfile',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--maxmemory-policy',
      'noeviction',
    ],
    /Ready to accept connections/,
  );
  return { child: r.child, url: `redis://127.0.0.1:${port}` };
}

async function startRelays(root: string, config: string, count: number, url?: string) {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const dir = path.join(root, `relay-${i + 1}`);
      const cluster = url ? ['--cluster', url, '--relay-id', `bench-${i + 1}`] : [];
      const args = [BIN, '--serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir];
      const r = await startChild(
        process.execPath,
        [...args, '--config', config, '--log-level', 'warn', ...cluster],
        /Relay key fingerprint/,
      );
      const port = Number(/listening on [^\s]+:(\d+)/.exec(r.out())?.[1]);
      return { child: r.child, port };
    }),
  );
}

export async function clusterBench(quick: boolean, log: (s: string) => void): Promise<ClusterRow[]> {
  const perPair = quick ? 500 : 3000;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-bench-cluster-'));
  const config = path.join(root, 'config.toml');
  fs.writeFileSync(config, LIMITS);
  const rows: ClusterRow[] = [];
  const setups: { setup: string; relays: number; redis: boolean }[] = [
    { setup: 'SQLite, one relay', relays: 1, redis: false },
    { setup: 'Redis, one relay', relays: 1, redis: true },
    { setup: 'Redis, three relays', relays: 3, redis: true },
  ];
  try {
    for (const [k, s] of setups.entries()) {
      log(`cluster: ${s.setup}, ${PAIRS} pairs x ${perPair} messages`);
      const dir = path.join(root, `run-${k}`);
      fs.mkdirSync(dir);
      const redis = s.redis ? await startRedis(dir) : undefined;
      const relays = await startRelays(dir, config, s.relays, redis?.url);
      try {
        const r = await load(
          relays.map((x) => x.port),
          perPair,
          `b${k}`,
        );
        rows.push({ setup: s.setup, relays: s.relays, ...r });
      } finally {
        for (const x of relays) await stopChild(x.child);
        if (redis) await stopChild(redis.child, 'SIGKILL');
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  return rows;
}

export function clusterTable(rows: readonly ClusterRow[]): string {
  return (
    table([
      ['setup', 'relays', 'messages', 'msg/s', 'p50 ms', 'p99 ms', 'sent delivered', 'sent queued'],
      ...rows.map((r) => [
        r.setup,
        String(r.relays),
        fmt(r.messages),
        fmt(r.perSecond),
        fmt(r.p50Ms, 1),
        fmt(r.p99Ms, 1),
        fmt(r.delivered),
        fmt(r.queued),
      ]),
    ]) +
    `\nEvery relay, redis-server and the load clients share this machine's ${os.cpus().length} cores:` +
    '\nthe Redis rows show the cost per message of the shared store (an enqueue script, a publish,' +
    '\na queue read and an ack script per message), not how N relays on N machines would scale.\n'
  );
}
