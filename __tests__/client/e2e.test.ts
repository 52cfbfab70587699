/**
 * Issue 4 with real Clients and a real relay: X3DH to a user never online together with the
 * sender (with a one-time prekey, then with the signed prekey only), safety numbers, an
 * identity change that blocks sending until accepted, and a lying relay that is caught.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createIdentity } from '../../lib/crypto/identity';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import { envelopeBytes, type RelayStore } from '../../lib/server/store';
import { makeUser, type TestUser, waitForMessages } from '../helpers/client-harness';
import { BlackholeProxy } from '../faults/fault-harness';
import { connectClient, startRelay, tempDir, type TestRelay, waitFor } from '../helpers/relay-harness';

let relay: TestRelay;
const users: TestUser[] = [];
const proxies: BlackholeProxy[] = [];

async function user(name: string, opts: Parameters<typeof makeUser>[2] = {}): Promise<TestUser> {
  const u = await makeUser(relay.port, name, opts);
  users.push(u);
  return u;
}

async function stopUser(u: TestUser): Promise<void> {
  await u.stop();
  users.splice(users.indexOf(u), 1);
}

function relayStore(): RelayStore {
  return relay.store;
}

beforeEach(async () => {
  relay = await startRelay({ limits: { keysFetchPerMinute: 1000, opksPerTargetPerHour: 1000 } });
});

afterEach(async () => {
  for (const u of users.splice(0)) await u.stop().catch(() => undefined);
  for (const p of proxies.splice(0)) await p.close();
  await relay.stop().catch(() => undefined);
});

it('delivers to a user never online with the sender: with a one-time prekey, then with the signed prekey only', async () => {
  const eveDir = tempDir('eve-');
  const first = await user('Eve', { dir: eveDir });
  await waitFor(async () => (await relayStore().countOpks('eve')) === 100, 10000, 'Eve to publish prekeys');
  await stopUser(first);

  const adam = await user('Adam');
  adam.client.send('Eve', 'with a one-time prekey');
  await waitFor(() => adam.client.outboxSize() === 0);
  expect(await relayStore().countOpks('eve')).toBe(99);

  // Someone drains Eve's one-time prekeys.
  const drainer = await connectClient(relay.port, 'Drainer');
  await drainer.next('welcome');
  for (let i = 0; i < 99; i++) await drainer.request({ t: 'keys.fetch', user: 'Eve' }, 'keys.bundle');
  expect(await relayStore().countOpks('eve')).toBe(0);
  drainer.close();

  const bob = await user('Bob');
  bob.client.send('Eve', 'with the signed prekey only');
  await waitFor(() => bob.client.outboxSize() === 0);
  const bundle = await relayStore().takeBundle('eve');
  expect(bundle?.opk).toBeUndefined();

  const eve = await user('Eve', { dir: eveDir });
  await waitForMessages(eve, 2);
  // Her one-time prekeys ran out while she was away: the relay says keys.low and she tops up.
  await waitFor(async () => (await relayStore().countOpks('eve')) >= 20, 10000, 'Eve to top up her prekeys');
  expect(eve.messages.map((m) => `${m.peerName}: ${m.body}`).sort()).toEqual([
    'Adam: with a one-time prekey',
    'Bob: with the signed prekey only',
  ]);
});

it('shows the same safety number on both sides, and /verify confirm is remembered', async () => {
  const adam = await user('Adam');
  const eve = await user('Eve');
  adam.client.send('Eve', 'hi');
  await waitForMessages(eve, 1);
  const a = adam.client.safetyNumber('Eve');
  const e = eve.client.safetyNumber('Adam');
  expect(a).toBe(e);
  expect(a).toMatch(/^(\d{5} ){11}\d{5}$/);
  adam.client.verify('Eve');
  expect(adam.client.contactState('Eve')).toBe('verified');
});

it('blocks sending to Eve after her identity is replaced, until Adam accepts it', async () => {
  const adam = await user('Adam');
  const eve = await user('Eve');
  adam.client.send('Eve', 'first');
  await waitForMessages(eve, 1);
  const before = adam.client.safetyNumber('Eve');
  await stopUser(eve);

  // Eve lost her device: the operator frees her name, she registers a new identity.
  await relayStore().freeName('eve');
  const eve2 = await user('Eve');
  eve2.client.send('Adam', 'it is me, new phone');
  await waitFor(() => adam.client.contactState('Eve') === 'changed', 10000, 'the change to show');
  expect(adam.messages.map((m) => m.body)).not.toContain('it is me, new phone');
  expect(adam.errors.some((e) => e.code === 'identity_changed' && /safety number/.test(e.message))).toBe(
    true,
  );

  // Typed while blocked: kept, not sent to anyone until the change is accepted.
  adam.client.send('Eve', 'typed while blocked');
  expect(adam.client.safetyNumber('Eve')).not.toBe(before);
  expect(eve2.messages.map((m) => m.body)).not.toContain('typed while blocked');
  adam.client.acceptIdentity('Eve');
  await waitForMessages(adam, 1);
  expect(adam.messages[0].body).toBe('it is me, new phone');
  expect(adam.client.contactState('Eve')).toBe('unverified');
  adam.client.send('Eve', 'welcome back');
  await waitFor(() => eve2.messages.some((m) => m.body === 'welcome back'), 10000, 'Eve to get the reply');
  expect(eve2.messages.map((m) => m.body)).toContain('typed while blocked');
});

it('detects a relay that swaps an identity in a bundle; nothing is sent to the impostor', async () => {
  const adam = await user('Adam');
  const eve = await user('Eve');
  adam.client.send('Eve', 'hello');
  await waitForMessages(eve, 1);
  // A new session is needed: Adam forgets his sessions (e.g. a reinstall keeps contacts).
  const adamStore = adam.store;
  adamStore.archiveSessions('eve', 40, '');
  for (const s of adamStore.sessions('eve')) expect(s).toMatchObject({ archived: true });

  // The relay now answers keys.fetch for Eve with Mallory's identity and prekeys.
  const mallory = createIdentity();
  const store = relayStore();
  const lookup = store.lookup.bind(store);
  store.lookup = async (canon: string) => {
    const real = await lookup(canon);
    if (canon !== 'eve' || !real) return real;
    return {
      ...real,
      signKey: mallory.signKey.publicKey,
      dhKey: mallory.dhKey.publicKey,
      idcert: mallory.idcert,
    };
  };
  adam.client.send('Eve', 'for Eve only');
  await waitFor(
    () => adam.errors.some((e) => e.code === 'bad_key' || e.code === 'identity_changed'),
    10000,
    'the swap to be caught',
  );
  expect(adam.client.outboxSize()).toBeGreaterThan(0);
  await new Promise((r) => setTimeout(r, 300));
  expect(eve.messages.map((m) => m.body)).toEqual(['hello']);
});

it('drops an envelope the relay replays; nothing it injects is shown', async () => {
  const adam = await user('Adam');
  // Eve reaches the relay through a proxy that can drop her connection, as a network would.
  const proxy = await BlackholeProxy.start(relay.port);
  proxies.push(proxy);
  const eve = await user('Eve', { client: { port: proxy.port } });
  const store = relayStore();
  const captured: Uint8Array[] = [];
  const enqueue = store.enqueue.bind(store);
  // Every envelope through the hook: none taken early, by callback (`enqueueEarly`).
  store.enqueueEarly = undefined;
  store.enqueue = async (env) => {
    captured.push(envelopeBytes(env.env));
    return enqueue(env);
  };
  adam.client.send('Eve', 'once only');
  await waitForMessages(eve, 1);
  // Replay it under a fresh outer id, and inject garbage as if from Adam.
  await store.enqueue({
    id: toHex(randomBytes(16)),
    to: 'eve',
    from: 'Adam',
    env: captured[0],
    ts: Date.now(),
  });
  await store.enqueue({
    id: toHex(randomBytes(16)),
    to: 'eve',
    from: 'Adam',
    env: randomBytes(200),
    ts: Date.now(),
  });
  // Poke the relay to deliver: Eve reconnects.
  // Her reconnect is fast (50 ms), so count her logins rather than poll for the offline moment.
  const logins = () =>
    (eve.events.state ?? []).filter((e) => (e as { state: string }).state === 'online').length;
  const before = logins();
  proxy.cut();
  await waitFor(() => logins() > before, 10000, 'Eve online again');
  await waitFor(async () => (await store.countQueued('eve')) === 0, 10000);
  // A sentinel after them: anything the replay or the garbage made shown would come before it.
  adam.client.send('Eve', 'sentinel');
  await waitForMessages(eve, 2);
  expect(eve.messages.map((m) => m.body)).toEqual(['once only', 'sentinel']);
  expect(eve.client.history('Adam').length).toBe(2);
});

it('keeps bodies, receipts and typing state out of the relay database and log', async () => {
  const adam = await user('Adam');
  const eve = await user('Eve');
  const secret = 'secret-' + toHex(randomBytes(8));
  adam.client.send('Eve', secret);
  await waitForMessages(eve, 1);
  eve.client.markShown('Adam');
  eve.client.setTyping('Adam', true);
  await waitFor(() => adam.client.history('Eve')[0]?.state === 'read');
  await relay.stop();
  const files = fs
    .readdirSync(relay.dir)
    .map((f) => fs.readFileSync(path.join(relay.dir, f)).toString('latin1'));
  for (const content of files) {
    expect(content).not.toContain(secret);
    expect(content).not.toMatch(/"kind":"(receipt|typing)"/);
    expect(content).not.toMatch(/"state":"(read|delivered)"/);
  }
});
