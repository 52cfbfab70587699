/**
 * `--metrics HOST:PORT`: Prometheus metrics (prom-client) and `/healthz`, off by default.
 *
 * The relay reports through the small RelayObserver interface (one call per event, no await),
 * so routing code knows nothing of Prometheus. Labels carry only fixed words (an outcome, a
 * store operation), never a name, a key or an id: metrics are readable by whoever can reach
 * the port, and they must say nothing about who talks to whom.
 */
import * as http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RelayObserver } from './session';
import type { RelayStore } from './store';

/**
 * What the relay tells its observer (lib/server/session.ts `RelayObserver`): `count(event, n)`
 * with a fixed event word. The ones measured here: `connection` / `disconnect`,
 * `handshake_ok` / `handshake_failed`, `login`, `stored` (an envelope stored for its recipient;
 * a resend of a stored one does not count), `rate_limited`, `refused`, `delivered`. Others are
 * ignored, so the relay can report more without this file knowing.
 */
export type { RelayObserver };

export interface MetricsServer {
  readonly observer: RelayObserver;
  readonly address: { host: string; port: number };
  /** The store with each call timed (`chatsecure_store_seconds`). */
  instrument(store: RelayStore): RelayStore;
  stop(): Promise<void>;
}

/** Store operations timed by `instrument`; a fixed list, so the label set stays bounded. */
const TIMED_OPERATIONS = [
  'register',
  'lookup',
  'listUsers',
  'setLastSeen',
  'freeName',
  'publishPrekeys',
  'takeBundle',
  'countOpks',
  'enqueue',
  'pending',
  'ack',
  'countQueued',
  'expire',
] as const;

/**
 * Starts the metrics listener. `queueDepth` is asked at each scrape (the store knows it; the
 * relay does not keep a count that could drift).
 */
export async function startMetrics(opts: {
  host: string;
  port: number;
  queueDepth: () => Promise<number>;
  online: () => number;
}): Promise<MetricsServer> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'chatsecure_' });
  const connections = new Gauge({
    name: 'chatsecure_connections',
    help: 'TCP connections open now',
    registers: [registry],
  });
  const connectionsTotal = new Counter({
    name: 'chatsecure_connections_total',
    help: 'TCP connections accepted',
    registers: [registry],
  });
  const handshakes = new Counter({
    name: 'chatsecure_handshakes_total',
    help: 'Noise handshakes, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const logins = new Counter({ name: 'chatsecure_logins_total', help: 'logins', registers: [registry] });
  const relayed = new Counter({
    name: 'chatsecure_messages_relayed_total',
    help: 'envelopes stored for their recipient',
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'chatsecure_rate_limited_total',
    help: 'requests refused with rate_limited',
    registers: [registry],
  });
  new Gauge({
    name: 'chatsecure_users_online',
    help: 'users logged in now',
    registers: [registry],
    collect() {
      this.set(opts.online());
    },
  });
  new Gauge({
    name: 'chatsecure_queue_depth',
    help: 'envelopes waiting in the offline queue, all users',
    registers: [registry],
    async collect() {
      this.set(await opts.queueDepth());
    },
  });
  const storeSeconds = new Histogram({
    name: 'chatsecure_store_seconds',
    help: 'time of a relay store operation',
    labelNames: ['operation'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  for (const outcome of ['ok', 'failed']) handshakes.inc({ outcome }, 0);

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method !== 'GET') {
      res.writeHead(405).end();
    } else if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as { address: string; port: number };

  const observer: RelayObserver = {
    count(event, n = 1) {
      switch (event) {
        case 'connection':
          connections.inc(n);
          connectionsTotal.inc(n);
          return;
        case 'disconnect':
          connections.dec(n);
          return;
        case 'handshake_ok':
          handshakes.inc({ outcome: 'ok' }, n);
          return;
        case 'handshake_failed':
          handshakes.inc({ outcome: 'failed' }, n);
          return;
        case 'login':
          logins.inc(n);
          return;
        case 'stored':
          relayed.inc(n);
          return;
        case 'rate_limited':
          rateLimited.inc(n);
          return;
        default:
          return;
      }
    },
  };

  return {
    observer,
    address: { host: a.address, port: a.port },
    instrument(store) {
      const timed = new Set<string>(TIMED_OPERATIONS);
      // A proxy, so methods the interface gains later pass through untimed, on the real store.
      return new Proxy(store, {
        get(target, prop) {
          const v = Reflect.get(target, prop, target) as unknown;
          if (typeof v !== 'function') return v;
          const f = (v as (...args: unknown[]) => unknown).bind(target);
          if (typeof prop !== 'string' || !timed.has(prop)) return f;
          return (...args: unknown[]) => {
            const end = storeSeconds.startTimer({ operation: prop });
            return Promise.resolve(f(...args)).finally(end);
          };
        },
      });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Envelopes queued for all users: the sum over the directory (a scrape every few seconds can afford it). */
export async function totalQueued(store: RelayStore): Promise<number> {
  let n = 0;
  for (const u of await store.listUsers()) n += await store.countQueued(u.canon);
  return n;
}
