/**
 * The client figure of `npm run bench` (issue 9): a text handed to one real `Client` until the
 * `message` event at the peer's real `Client` (Double Ratchet on, real SQLite stores, a real
 * in-process relay on loopback), p50/p99, with 1 and with 100 conversations the two clients
 * hold (sessions and history with 99 other users), and a 2,000-message burst: time to deliver,
 * messages out of order, rate-limit errors seen by the sender.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '../lib/client/client';
import { loadOrCreateIdentity } from '../lib/client/identity-store';
import { KnownServers } from '../lib/client/known-servers';
import { openClientStore } from '../lib/client/sqlite-store';
import type { ChatMessage } from '../lib/client/types';
import { closeLogger, createLogger } from '../lib/log';
import { Relay } from '../lib/server/relay';
import { loadOrCreateRelayKey } from '../lib/server/relay-key';
import { openRelayStore } from '../lib/server/sqlite-store';

export interface ClientLatencyResult {
  readonly conversations: number;
  readonly messages: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /**
   * CPU time of this process (both clients and the relay) per message, user + system: the part of
   * the cost that does not depend on how busy the shared disk and cores are.
   */
  readonly cpuMsPerMessage: number;
}

export interface BurstResult {
  readonly messages: number;
  readonly seconds: number;
  readonly outOfOrder: number;
  readonly rateLimitErrors: number;
}

interface Peer {
  client: Client;
  received: ChatMessage[];
  errors: string[];
  close(): Promise<void>;
}

async function waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function peer(root: string, port: number, name: string): Promise<Peer> {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const logger = createLogger({ file: path.join(dir, 'client.log'), name, level: 'warn' });
  const store = openClientStore(dir);
  const ks = path.join(dir, 'known_servers');
  const client = new Client({
    name,
    host: '127.0.0.1',
    port,
    identity: loadOrCreateIdentity(dir).identity,
    store,
    knownServers: new KnownServers(ks),
    knownServersFile: ks,
    logger,
    acceptNewServer: true,
    readReceipts: false,
  });
  const p: Peer = {
    client,
    received: [],
    errors: [],
    async close() {
      await client.close();
      store.close();
      await closeLogger(logger);
    },
  };
  client.on('message', (m) => p.received.push(m));
  client.on('error', (e) => p.errors.push(e.code));
  client.start();
  await waitUntil(() => client.connection.state === 'online', 30_000, `${name} online`);
  return p;
}

function pct(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Runs the whole client figure; `quick` uses fewer messages. */
export async function measureClient(
  quick: boolean,
): Promise<{ latency: ClientLatencyResult[]; burst: BurstResult }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-bench-client-'));
  const logger = createLogger({ file: path.join(root, 'relay.log'), name: 'relay', level: 'warn' });
  const relay = await Relay.start({
    host: '127.0.0.1',
    port: 0,
    key: loadOrCreateRelayKey(root).key,
    store: openRelayStore(root),
    logger,
    // 101 users register from one loopback address, and Adam and Eve each fetch 100 bundles:
    // the per-address and per-identity limits meant for the internet would refuse the set-up.
    limits: { registrationsPerAddressPerHour: 1_000, keysFetchPerMinute: 1_000 },
  });
  const port = relay.address.port;
  const closers: Peer[] = [];
  try {
    const adam = await peer(root, port, 'Adam');
    const eve = await peer(root, port, 'Eve');
    closers.push(adam, eve);
    const latency: ClientLatencyResult[] = [];
    const n = quick ? 50 : 200;
    const once = async (conversations: number) => {
      const samples: number[] = [];
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        const before = eve.received.length;
        const t0 = process.hrtime.bigint();
        adam.client.send('Eve', `latency ${conversations} ${i}`);
        await waitUntil(() => eve.received.length > before, 30_000, 'a message at Eve');
        samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
        // About 2 messages a second per conversation would be idle time here; a short pause
        // keeps the receipts of the previous message from landing inside the next sample.
        await new Promise((r) => setTimeout(r, 5));
      }
      const cpu = process.cpuUsage(cpu0);
      samples.sort((a, b) => a - b);
      latency.push({
        conversations,
        messages: n,
        p50Ms: pct(samples, 0.5),
        p99Ms: pct(samples, 0.99),
        cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / n,
      });
    };
    await once(1);
    // 99 more conversations on both sides: sessions, history and contacts with other users.
    for (let i = 0; i < 99; i++) {
      const other = await peer(root, port, `User${i}`);
      other.client.send('Adam', 'hello Adam');
      other.client.send('Eve', 'hello Eve');
      await waitUntil(
        () => adam.received.length > i && eve.received.length >= n + i + 1,
        30_000,
        'the other conversations',
      );
      adam.client.send(other.client.name, 'hi back');
      eve.client.send(other.client.name, 'hi back');
      await waitUntil(() => other.received.length === 2, 30_000, 'the replies');
      await other.close();
    }
    const offset = eve.received.length;
    eve.received.length = 0;
    void offset;
    await once(100);

    // The burst.
    const total = quick ? 300 : 2000;
    eve.received.length = 0;
    adam.errors.length = 0;
    const t0 = Date.now();
    for (let i = 0; i < total; i++) adam.client.send('Eve', `burst ${i}`);
    await waitUntil(() => eve.received.length >= total, 600_000, 'the burst');
    const seconds = (Date.now() - t0) / 1000;
    let outOfOrder = 0;
    eve.received.forEach((m, i) => {
      if (m.body !== `burst ${i}`) outOfOrder++;
    });
    const burst: BurstResult = {
      messages: total,
      seconds,
      outOfOrder,
      rateLimitErrors: adam.errors.filter((c) => c === 'rate_limited').length,
    };
    return { latency, burst };
  } finally {
    for (const p of closers) await p.close().catch(() => undefined);
    await relay.stop();
    await closeLogger(logger);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (require.main === module) {
  measureClient(process.argv.includes('--quick'))
    .then((r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'))
    .catch((err: unknown) => {
      process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
