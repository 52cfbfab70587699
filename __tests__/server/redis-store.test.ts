/**
 * RedisRelayStore against real redis-servers (Debian's package, started by the test): the
 * RelayStore contract (store-contract.ts, the same tests as SQLite), plus what only Redis has:
 * the durability settings check, the byte cap, outages (SIGKILL, SIGSTOP), the wake-up channel,
 * session ownership and the expiry lease.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createClient } from 'redis';
import { closeLogger, createLogger } from '../../lib/log';
import { isChatError } from '../../lib/errors';
import {
  openRedisRelayStore,
  type RedisRelayStore,
  type RedisStoreOptions,
} from '../../lib/server/redis-store';
import type { QueuedEnvelope } from '../../lib/server/store';
import { startRedis, type RedisServer } from '../helpers/redis-harness';
import { envelope, identity, NOW, storeContract } from './store-contract';

let server: RedisServer;
let prefixN = 0;
let prefix = '';
const opened: RedisRelayStore[] = [];

async function store(extra: Partial<RedisStoreOptions> = {}): Promise<RedisRelayStore> {
  const s = await openRedisRelayStore({ url: server.url, prefix, ...extra });
  opened.push(s);
  return s;
}

/** A plain client for reading what the store wrote (the key layout is documented). */
async function raw(url = server.url) {
  const c = createClient({ url });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

// Each test works under its own key prefix on the one server: a fresh, empty store.
storeContract('Redis', {
  async setup() {
    prefix = `t${++prefixN}:`;
  },
  open: () => openRedisRelayStore({ url: server.url, prefix }),
  async teardown() {},
});

describe('Redis only', () => {
  beforeEach(() => {
    prefix = `r${++prefixN}:`;
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });

  test('every key of a user carries the {canon} hash tag; the rest is the directory', async () => {
    const s = await store();
    await s.register(identity('Eve'), NOW);
    await s.publishPrekeys('eve', { id: 1, pub: new Uint8Array(32), sig: new Uint8Array(64) }, [
      { id: 2, pub: new Uint8Array(32) },
    ]);
    await s.enqueue(envelope('eve', 'Adam'));
    await s.claimSession('eve', 'relay-1/7', 60_000);
    const c = await raw();
    const keys = (await c.keys(`${prefix}*`)).sort();
    await c.close();
    expect(keys.filter((k) => !k.startsWith(`${prefix}{eve}:`))).toEqual([
      `${prefix}directory:idents`,
      `${prefix}directory:names`,
    ]);
    expect(keys.length).toBeGreaterThan(10);
  });

  test('the byte cap refuses an envelope that would pass it, and an ack makes room', async () => {
    const s = await store({ maxQueueBytes: 1000 });
    await s.register(identity('Eve'), NOW);
    const sent: QueuedEnvelope[] = [];
    for (let i = 0; i < 15; i++) {
      const e = envelope('eve', 'Adam');
      sent.push(e);
      expect(await s.enqueue(e)).toBe('ok'); // 15 × 64 = 960 bytes
    }
    expect(await s.enqueue(envelope('eve', 'Bob'))).toBe('queue_full');
    expect(await s.enqueue(envelope('eve', 'Bob', NOW, 40))).toBe('ok'); // exactly 1000
    expect(await s.enqueue(envelope('eve', 'Bob', NOW, 1))).toBe('queue_full');
    expect(await s.ack('eve', sent[0].id)).toBe(true);
    expect(await s.enqueue(envelope('eve', 'Bob'))).toBe('ok');
    expect(await s.countQueued('eve')).toBe(16);
  });

  test('an enqueue wakes the relays subscribed to the recipient, and says how many', async () => {
    const holder = await store();
    const other = await store();
    const sender = await store();
    await sender.register(identity('Eve'), NOW);
    await sender.register(identity('Bob'), NOW);
    const woken: string[] = [];
    let sentinel: (id: string) => void = () => undefined;
    const bobWoken = new Promise<string>((resolve) => (sentinel = resolve));
    const unsubscribe = await holder.subscribeWake('eve', (id) => woken.push(id));
    await other.subscribeWake('bob', (id) => sentinel(id));

    const first = envelope('eve', 'Adam');
    expect(await sender.enqueueAndWake(first)).toEqual({ result: 'ok', listeners: 1 });
    // Refused envelopes publish nothing.
    expect(await sender.enqueueAndWake(first)).toEqual({ result: 'duplicate', listeners: 0 });
    const forBob = envelope('bob', 'Adam');
    expect(await sender.enqueueAndWake(forBob)).toEqual({ result: 'ok', listeners: 1 });
    // Bob's wake-up is published after Eve's on the same server: once it arrived, Eve's has too.
    expect(await bobWoken).toBe(forBob.id);
    expect(woken).toEqual([first.id]);

    await unsubscribe();
    expect(await sender.enqueueAndWake(envelope('eve', 'Adam'))).toEqual({ result: 'ok', listeners: 0 });
    // The queue is the source of truth, woken or not.
    expect(await holder.countQueued('eve')).toBe(2);
  });

  test('a session is claimed atomically: concurrent claims form one chain of replacements', async () => {
    const relays = await Promise.all(Array.from({ length: 5 }, () => store()));
    const owners = Array.from({ length: 20 }, (_, i) => `relay-${i % 5}/${i}`);
    const prev = await Promise.all(owners.map((o, i) => relays[i % 5].claimSession('eve', o, 60_000)));
    // Exactly one claim found nobody; every other claim replaced a distinct earlier owner.
    expect(prev.filter((p) => p === undefined)).toHaveLength(1);
    const replaced = prev.filter((p): p is string => p !== undefined);
    expect(new Set(replaced).size).toBe(19);
    const last = owners.find((o) => !replaced.includes(o))!;
    expect(await relays[0].sessionOwner('eve')).toBe(last);

    const loser = replaced[0];
    expect(await relays[1].refreshSession('eve', loser, 60_000)).toBe(false);
    expect(await relays[1].releaseSession('eve', loser)).toBe(false);
    expect(await relays[2].refreshSession('eve', last, 60_000)).toBe(true);
    expect(await relays[2].claimSession('eve', last, 60_000)).toBeUndefined(); // a re-claim replaces nobody
    const c = await raw();
    const ttl = await c.pTTL(`${prefix}{eve}:session`);
    await c.close();
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(await relays[3].releaseSession('eve', last)).toBe(true);
    expect(await relays[3].sessionOwner('eve')).toBeUndefined();
  });

  test('expiry runs under a lease: while another relay holds it, nothing is expired here', async () => {
    const s = await store({ relayId: 'relay-a' });
    await s.register(identity('Eve'), NOW);
    const old = envelope('eve', 'Adam', NOW - 31 * 24 * 3600 * 1000);
    await s.enqueue(old);
    const c = await raw();
    await c.set(`${prefix}expire:lease`, 'relay-b:token', { PX: 60_000 });
    expect(await s.expire(NOW)).toBe(0);
    expect(await s.countQueued('eve')).toBe(1);
    expect(await c.get(`${prefix}expire:lease`)).toBe('relay-b:token'); // not ours to release
    await c.del(`${prefix}expire:lease`);
    expect(await s.expire(NOW)).toBe(1);
    expect(await c.exists(`${prefix}expire:lease`)).toBe(0); // released after the run
    await c.close();
  });

  test('nothing listening on the address: open fails with storage_failed', async () => {
    const gone = await startRedis();
    const url = gone.url;
    await gone.stop();
    const err = await openRedisRelayStore({ url, prefix, commandTimeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(isChatError(err, 'storage_failed')).toBe(true);
    expect((err as Error).message).toMatch(/could not connect to Redis/);
  });
});

describe('durability settings', () => {
  let unsafe: RedisServer | undefined;
  let tmp = '';
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    await unsafe?.stop();
    unsafe = undefined;
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the safe settings raise no warning', async () => {
    prefix = `s${++prefixN}:`;
    const s = await store();
    expect(await s.checkSettings()).toEqual([]);
  });

  test('each unsafe setting is named in a warning, returned and logged at open', async () => {
    unsafe = await startRedis([
      '--appendonly',
      'no',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'allkeys-lru',
    ]);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-redis-log-'));
    const logFile = path.join(tmp, 'relay.log');
    const logger = createLogger({ file: logFile, name: 'relay', level: 'info' });
    const s = await openRedisRelayStore({ url: unsafe.url, logger });
    opened.push(s);
    const warnings = await s.checkSettings();
    expect(warnings.map((w) => [w.setting, w.value, w.safe])).toEqual([
      ['appendonly', 'no', 'yes'],
      ['appendfsync', 'everysec', 'always'],
      ['maxmemory-policy', 'allkeys-lru', 'noeviction'],
    ]);
    for (const w of warnings)
      expect(w.message).toMatch(new RegExp(`^Redis ${w.setting} is ${w.value}, not ${w.safe}`));
    await closeLogger(logger);
    const lines = fs
      .readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; setting?: string; msg: string });
    expect(lines.filter((l) => l.level === 40 && l.setting).map((l) => l.setting)).toEqual([
      'appendonly',
      'appendfsync',
      'maxmemory-policy',
    ]);
  });

  test('one unsafe setting among safe ones is the only warning', async () => {
    unsafe = await startRedis([
      '--appendonly',
      'yes',
      '--appendfsync',
      'no',
      '--maxmemory-policy',
      'noeviction',
    ]);
    const s = await openRedisRelayStore({ url: unsafe.url, checkSettings: false });
    opened.push(s);
    expect((await s.checkSettings()).map((w) => w.setting)).toEqual(['appendfsync']);
  });
});

describe('Redis outages', () => {
  let own: RedisServer;
  beforeEach(async () => {
    prefix = `o${++prefixN}:`;
    own = await startRedis();
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    await own.stop();
  });

  /** Retries `fn` until Redis answers again (the client reconnects in the background). */
  async function whenBack<T>(fn: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (!isChatError(err, 'storage_failed') || i >= 600) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  test('SIGKILL mid-flow, restart on the same AOF: every enqueue that resolved is still there', async () => {
    const writers = await Promise.all(Array.from({ length: 3 }, () => store({ url: own.url })));
    await writers[0].register(identity('Eve'), NOW);
    const resolved: QueuedEnvelope[] = [];
    const failures: unknown[] = [];
    let killed = false;
    let attempts = 0;
    // Three writers keep 10 enqueues each in flight until 30 failed after the kill.
    const flows = writers.map(async (w) => {
      while (failures.length < 30 && attempts < 20_000) {
        const batch = Array.from({ length: 10 }, (_, i) => envelope('eve', `Sender${i}`));
        attempts += batch.length;
        await Promise.all(
          batch.map((e) =>
            w.enqueue(e).then(
              (r) => {
                expect(r).toBe('ok');
                resolved.push(e);
              },
              (err: unknown) => {
                failures.push(err);
              },
            ),
          ),
        );
        if (!killed && resolved.length >= 300) {
          killed = true;
          await own.kill();
        }
      }
    });
    await Promise.all(flows);
    expect(killed).toBe(true);
    expect(failures.length).toBeGreaterThanOrEqual(30);
    for (const err of failures) {
      expect(isChatError(err, 'storage_failed')).toBe(true);
      expect((err as Error).message).toMatch(/Redis relay store is unreachable/);
    }
    // While it is down, a read fails too (it does not wait for Redis to come back).
    await expect(writers[1].countQueued('eve')).rejects.toMatchObject({ code: 'storage_failed' });

    await own.restart();
    const pending = await whenBack(() => writers[2].pending('eve'));
    const ids = new Set(pending.map((e) => e.id));
    const lost = resolved.filter((e) => !ids.has(e.id));
    expect(lost).toEqual([]);
    // Each envelope is there once and whole; what failed may or may not be there (a client resends it).
    expect(ids.size).toBe(pending.length);
    const byId = new Map(pending.map((e) => [e.id, e]));
    for (const e of resolved) expect(byId.get(e.id)).toEqual(e);
    // The same connections work again, scripts included (the restarted server has none cached).
    const after = envelope('eve', 'Adam');
    expect(await whenBack(() => writers[0].enqueue(after))).toBe('ok');
    expect(await writers[1].ack('eve', after.id)).toBe(true);
  });

  test('a Redis that stops answering (SIGSTOP) fails requests with storage_failed instead of hanging', async () => {
    const s = await store({ url: own.url, commandTimeoutMs: 1_000 });
    await s.register(identity('Eve'), NOW);
    own.pause();
    try {
      const err = await s.enqueue(envelope('eve', 'Adam')).catch((e: unknown) => e);
      expect(isChatError(err, 'storage_failed')).toBe(true);
      await expect(s.lookup('eve')).rejects.toMatchObject({ code: 'storage_failed' });
    } finally {
      own.resume();
    }
    const e = envelope('eve', 'Adam');
    expect(await whenBack(() => s.enqueue(e))).toMatch(/^(ok|duplicate)$/);
    expect((await s.pending('eve')).map((x) => x.id)).toContain(e.id);
  });
});
