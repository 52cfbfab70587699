/**
 * Issue 14, what it must show: three real relay processes (`chatsecure --serve --cluster ...`) and
 * one real redis-server, all on loopback, started by the test and killed by PID. Bare protocol
 * clients speak section 5 and 7 to whichever relay they are told.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createIdentity, type Identity } from '../../lib/crypto/identity';
import type { RelayMessage } from '../../lib/net/messages';
import { startRedis, type RedisServer } from '../helpers/redis-harness';
import {
  connectClient,
  loginClient,
  startRelayProcess,
  tempDir,
  type RelayProcess,
  type TestClient,
  waitFor,
} from '../helpers/relay-harness';

jest.setTimeout(240_000);

let redis: RedisServer;
const relays: RelayProcess[] = [];
const clients: TestClient[] = [];
let config = '';

/** Every test connects from 127.0.0.1 and streams fast: the per-address and rate gates open. */
const LIMITS = `
[limits]
registrations-per-address-per-hour = 1000000
max-handshakes-per-address = 10000
queue-per-address = 1000000
queue-per-new-sender = 10000
queue-per-sender = 10000
requests-per-second = 1000000
request-burst = 1000000
`;

async function relay(id: string): Promise<RelayProcess> {
  const r = await startRelayProcess(tempDir(`chatsecure-${id}-`), [
    '--config',
    config,
    '--cluster',
    redis.url,
    '--relay-id',
    id,
  ]);
  relays.push(r);
  return r;
}

async function login(r: RelayProcess, name: string, identity?: Identity): Promise<TestClient> {
  const c = await loginClient(r.port, name, identity);
  clients.push(c);
  return c;
}

const newId = (): string => randomBytes(16).toString('hex');
const body = (n: number): string => Buffer.from(`message ${n}`).toString('base64');
const seqOf = (env: string): number => Number(Buffer.from(env, 'base64').toString().slice(8));

/** Acks every delivery and records the sequence numbers in arrival order. */
function receiver(c: TestClient, got: number[]): void {
  const take = (m: RelayMessage): void => {
    if (m.t !== 'deliver') return;
    got.push(seqOf(m.env));
    c.send({ t: 'ack', id: m.id });
  };
  // What arrived right after welcome, before this listener, first.
  for (let i = 0; i < c.received.length;) {
    if (c.received[i].t === 'deliver') take(c.received.splice(i, 1)[0]);
    else i++;
  }
  c.channel.on('message', take);
}

beforeAll(async () => {
  redis = await startRedis();
  const dir = tempDir('chatsecure-cluster-config-');
  config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, LIMITS);
  for (const id of ['r1', 'r2', 'r3']) await relay(id);
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const r of relays) await r.stop('SIGKILL');
  await redis?.stop();
});

it('delivers across relays live, replaces a login on another relay, and carries presence', async () => {
  const [r1, r2, r3] = relays;
  expect(r1.stdout()).toContain(`Cluster: ${redis.url} as relay r1`);

  const bobId = createIdentity();
  const bob = await login(r2, 'Bob', bobId);
  const alice = await login(r1, 'Alice');
  const carol = await login(r3, 'Carol');

  // A watcher on relay 3 sees Alice, who is on relay 1, online.
  const watched = await carol.request({ t: 'presence.watch', users: ['Alice'] }, 'presence.batch');
  expect(watched).toMatchObject({ t: 'presence.batch', changes: [{ user: 'Alice', online: true }] });

  // Alice on relay 1 → Bob on relay 2: delivered live, answered `delivered`.
  const id = newId();
  const sent = await alice.request({ t: 'send', id, to: 'Bob', env: body(1) }, 'sent');
  expect(sent).toMatchObject({ t: 'sent', id, status: 'delivered' });
  const d = await bob.next('deliver');
  expect(d).toMatchObject({ id, from: 'Alice', env: body(1) });
  bob.send({ t: 'ack', id });

  // Alice logs out and in again on relay 1: Carol on relay 3 is told both.
  alice.close();
  expect(await carol.next('presence')).toEqual({ t: 'presence', user: 'Alice', online: false });
  const alice2 = await login(r1, 'Alice', alice.identity);
  expect(await carol.next('presence')).toEqual({ t: 'presence', user: 'Alice', online: true });

  // Bob logs in again on relay 3: relay 2 closes the first connection with `replaced`.
  const bob3 = await login(r3, 'Bob', bobId);
  expect(await bob.next('error')).toMatchObject({ code: 'replaced' });
  await bob.whenClosed();
  // The new connection is the one that receives now, and nothing was left queued.
  const id2 = newId();
  expect(await alice2.request({ t: 'send', id: id2, to: 'Bob', env: body(2) }, 'sent')).toMatchObject({
    status: 'delivered',
  });
  expect(await bob3.next('deliver')).toMatchObject({ id: id2 });
  bob3.send({ t: 'ack', id: id2 });
  // Someone offline: `queued`.
  // Once Carol (relay 3) hears Dave (relay 2) went offline, relay 2 no longer listens for him.
  const dave = await login(r2, 'Dave');
  await carol.request({ t: 'presence.watch', users: ['Dave'] }, 'presence.batch');
  dave.close();
  await carol.next('presence', (m) => m.user === 'Dave' && !m.online);
  const id3 = newId();
  expect(await alice2.request({ t: 'send', id: id3, to: 'Dave', env: body(3) }, 'sent')).toMatchObject({
    status: 'queued',
  });
  bob3.close();
  alice2.close();
  carol.close();
});

it('relay 2 killed with SIGKILL during a 2,000-message stream: Bob on relay 3 gets each once, in order', async () => {
  const [r1, r2, r3] = relays;
  const bobId = createIdentity();
  const bob = await login(r2, 'Bob2', bobId);
  const alice = await login(r1, 'Alice2');
  const N = 2000;
  const onR2: number[] = [];
  receiver(bob, onR2);

  const answered = new Map<string, string>();
  const allSent = new Promise<void>((resolve) =>
    alice.channel.on('message', (m: RelayMessage) => {
      if (m.t === 'sent') answered.set(m.id, m.status);
      if (answered.size === N) resolve();
    }),
  );
  const killAt = 500;
  let killed: Promise<void> | undefined;
  bob.channel.on('message', (m: RelayMessage) => {
    if (m.t === 'deliver' && onR2.length === killAt && !killed) {
      killed = r2.stop('SIGKILL').then(() => undefined);
    }
  });
  for (let i = 0; i < N; i++) alice.send({ t: 'send', rid: `s${i}`, id: newId(), to: 'Bob2', env: body(i) });

  await waitFor(
    () => killed !== undefined,
    60_000,
    `relay 2 to deliver ${killAt} (it did ${onR2.length}, ${answered.size} sent)`,
  );
  await killed;
  await bob.whenClosed();
  // Bob reconnects to relay 3 (the session key of the killed relay is simply taken over).
  const onR3: number[] = [];
  const bob3 = await loginClient(r3.port, 'Bob2', bobId);
  clients.push(bob3);
  receiver(bob3, onR3);
  await waitFor(() => answered.size === N, 60_000, `all sent (${answered.size}, r3 got ${onR3.length})`);
  await allSent;
  // Every send was answered once Redis had it (relay 1 never went away).
  expect(answered.size).toBe(N);
  // Sentinel: one more message after the stream; once it is in, everything before it is.
  const last = newId();
  alice.send({ t: 'send', rid: 'last', id: last, to: 'Bob2', env: body(N) });
  await waitFor(() => onR3.includes(N), 60_000, 'the sentinel on relay 3');

  // On each connection, each message at most once and in order.
  for (const list of [onR2, onR3]) {
    expect(new Set(list).size).toBe(list.length);
    expect([...list].sort((a, b) => a - b)).toEqual(list);
  }
  // Together, after the client drops what it already has (by id), exactly 0..N in order; what
  // came twice is only what relay 2 had delivered without Bob's ack reaching Redis.
  const seen = new Set<number>();
  const merged: number[] = [];
  for (const n of [...onR2, ...onR3]) {
    if (!seen.has(n)) merged.push(n);
    seen.add(n);
  }
  expect(merged).toEqual(Array.from({ length: N + 1 }, (_, i) => i));
  const again = onR3.filter((n) => onR2.includes(n));
  expect(again.length).toBeLessThanOrEqual(100 + 1); // at most the delivery window was unacked
  expect(onR2.length).toBeGreaterThanOrEqual(killAt);
  bob3.close();
  alice.close();
});

it('Redis killed and restarted mid-flow: nothing answered `sent` is lost; connections stay open', async () => {
  const [r1, , r3] = relays;
  const bobId = createIdentity();
  const bob = await login(r3, 'Bob3', bobId);
  const alice = await login(r1, 'Alice3');
  const got: number[] = [];
  receiver(bob, got);
  // Acks go out before the ping, so once the pong is back they were written to Redis.
  const acksWritten = async (c: TestClient) =>
    expect((await c.request({ t: 'ping' }, 'pong')).t).toBe('pong');

  const N = 400;
  const ids = Array.from({ length: N }, newId);
  const answered = new Set<number>();
  const failures: string[] = [];
  let restarted: Promise<void> | undefined;
  const resend = (i: number) => alice.send({ t: 'send', rid: `x${i}`, id: ids[i], to: 'Bob3', env: body(i) });
  alice.channel.on('message', (m: RelayMessage) => {
    if (m.t === 'sent') {
      const i = Number(m.rid.slice(1));
      answered.add(i);
      // Kill Redis once a quarter is in: the rest meet the outage and are resent.
      if (answered.size === N / 4 && !restarted) {
        restarted = redis.kill().then(() => redis.restart());
      }
    }
    if (m.t === 'error' && m.rid?.startsWith('x')) {
      failures.push(m.message);
      // The client resends after a pause (what the real client does on an error).
      const i = Number(m.rid.slice(1));
      setTimeout(() => resend(i), 200).unref();
    }
  });
  for (let i = 0; i < N; i++) resend(i);

  await waitFor(() => answered.size === N, 60_000, 'every send answered');
  await restarted;
  // Some requests met the outage and were refused with a sentence that says so.
  expect(failures.length).toBeGreaterThan(0);
  expect(failures[0]).toMatch(/Redis\) is unavailable/);
  // Neither connection was closed by the outage.
  expect(alice.closed).toBeUndefined();
  expect(bob.closed).toBeUndefined();

  await waitFor(() => new Set(got).size === N, 60_000, 'every message at Bob');
  expect([...new Set(got)].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
  // Every ack reached Redis in the end: a new login finds nothing queued.
  await acksWritten(bob);
  bob.close();
  await bob.whenClosed();
  const check = await connectClient(r1.port, 'Bob3', bobId);
  clients.push(check);
  expect((await check.next('welcome')).queued).toBe(0);
  check.close();
  alice.close();
});
