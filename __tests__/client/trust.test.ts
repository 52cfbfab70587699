/**
 * Issue 9 scenarios, client side, with real Clients, a real relay on loopback and real SQLite
 * stores. A hostile relay is played through the relay's own store (it injects or replays
 * envelopes as the relay could); faults are injected by wrapping the real client store.
 */
import { createIdentity, type Identity } from '../../lib/crypto/identity';
import { encodeInnerMessage } from '../../lib/crypto/inner-message';
import { preKeyBundleFromJSON } from '../../lib/crypto/prekeys';
import { randomBytes, toBase64, toHex } from '../../lib/crypto/primitives';
import { parseSessionFromStorage } from '../../lib/crypto/ratchet/session';
import { encryptMessage, initiateSession } from '../../lib/crypto/session-manager';
import { openClientStore } from '../../lib/client/sqlite-store';
import { ChatError, isChatError } from '../../lib/errors';
import { envelopeBytes, type RelayStore } from '../../lib/server/store';
import {
  faultyStore,
  type FaultyStore,
  makeUser,
  startRelayWithStore,
  type TestUser,
  waitForMessages,
} from '../helpers/client-harness';
import { connectClient, tempDir, type TestRelay, waitFor } from '../helpers/relay-harness';

let relay: TestRelay;
const users: TestUser[] = [];

async function user(name: string, opts: Parameters<typeof makeUser>[2] = {}): Promise<TestUser> {
  const u = await makeUser(relay.port, name, opts);
  users.push(u);
  return u;
}

async function stopUser(u: TestUser): Promise<void> {
  await u.stop();
  users.splice(users.indexOf(u), 1);
}

/** The user's client stops and starts again on the same data dir (it then gets what was queued). */
async function restart(u: TestUser, opts: Parameters<typeof makeUser>[2] = {}): Promise<TestUser> {
  await stopUser(u);
  return user(u.client.name, { ...opts, dir: u.dir });
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** A text envelope sealed with `ours` as if from `fromName`, to `to`, from a bundle the relay hands out. */
async function forgedFirstMessage(ours: Identity, fromName: string, to: string, body: string) {
  const c = await connectClient(relay.port, `Forger${toHex(randomBytes(3))}`);
  await c.next('welcome');
  const m = await c.request({ t: 'keys.fetch', user: to }, 'keys.bundle');
  c.close();
  if (m.t !== 'keys.bundle') throw new Error('no bundle');
  const { session } = initiateSession({
    ours: { identity: ours, name: fromName },
    theirName: to,
    bundle: preKeyBundleFromJSON(m),
  });
  const inner = encodeInnerMessage({ kind: 'text', id: toHex(randomBytes(16)), ts: Date.now(), body });
  return encryptMessage(session, inner).envelopeBytes;
}

function inject(to: string, from: string, env: Uint8Array) {
  return relay.store.enqueue({ id: toHex(randomBytes(16)), to, from, env, ts: Date.now() });
}

beforeEach(async () => {
  relay = await startRelayWithStore({ limits: { keysFetchPerMinute: 1000 } });
});

afterEach(async () => {
  for (const u of users.splice(0)) await u.stop().catch(() => undefined);
  await relay.stop().catch(() => undefined);
});

/** Adam and Eve talk; Eve loses her device and registers again; Adam's contact shows `changed`. */
async function eveReplaced(): Promise<{ adam: TestUser; eve2: TestUser; oldEveDir: string }> {
  const adam = await user('Adam');
  const eve = await user('Eve');
  adam.client.send('Eve', 'hi');
  await waitForMessages(eve, 1);
  eve.client.send('Adam', 'hi back');
  await waitForMessages(adam, 1);
  const oldEveDir = eve.dir;
  await stopUser(eve);
  await relay.store.freeName('eve');
  const eve2 = await user('Eve');
  eve2.client.send('Adam', 'new phone');
  await waitFor(() => adam.client.contactState('Eve') === 'changed', 15000, 'the change to show');
  return { adam, eve2, oldEveDir };
}

it('a replaced identity’s session never decrypts again after /accept', async () => {
  const { adam: adam0, eve2, oldEveDir } = await eveReplaced();
  adam0.client.acceptIdentity('Eve', adam0.client.safetyNumber('Eve'));
  await waitFor(() => adam0.messages.some((m) => m.body === 'new phone'), 15000, 'the held message');

  // Someone holding the old device's state seals a message with its session for Adam.
  const old = openClientStore(oldEveDir);
  const rec = old.sessions('adam').find((r) => !r.archived)!;
  old.close();
  const inner = encodeInnerMessage({
    kind: 'text',
    id: toHex(randomBytes(16)),
    ts: 1,
    body: 'from the old device',
  });
  const env = encryptMessage(parseSessionFromStorage(rec.state), inner).envelopeBytes;
  await inject('adam', 'Eve', env);
  const adam = await restart(adam0);
  eve2.client.send('Adam', 'sentinel');
  await waitFor(() => adam.messages.some((m) => m.body === 'sentinel'), 15000, 'the sentinel');
  expect(adam.messages.map((m) => m.body)).not.toContain('from the old device');
  expect(adam.errors.some((e) => /could not be decrypted/.test(e.message))).toBe(true);

  // Adam's next message goes to the new Eve, with her session.
  adam.client.send('Eve', 'to the new Eve');
  await waitFor(() => eve2.messages.some((m) => m.body === 'to the new Eve'), 15000, 'the reply');
});

it('/accept accepts exactly the identity whose safety number was shown', async () => {
  const { adam: adam0 } = await eveReplaced();
  const shown = adam0.client.safetyNumber('Eve');
  // Between /verify and /accept, the relay slips in yet another identity for Eve.
  const env = await forgedFirstMessage(createIdentity(), 'Eve', 'Adam', 'from the relay');
  await inject('adam', 'Eve', env);
  const adam = await restart(adam0);
  // A number other than the pending identity's is refused, and nothing is accepted.
  const other = shown.replace(/^\d/, (d) => String((Number(d) + 1) % 10));
  const err = thrown(() => adam.client.acceptIdentity('Eve', other));
  expect(isChatError(err, 'identity_changed')).toBe(true);
  expect(adam.client.contactState('Eve')).toBe('changed');
  // The shown one is accepted; the relay's identity then shows as a new change, never as Eve.
  adam.client.acceptIdentity('Eve', shown);
  await waitFor(() => adam.messages.some((m) => m.body === 'new phone'), 15000, 'the held message');
  await waitFor(() => adam.client.contactState('Eve') === 'changed', 15000, 'the relay key as a change');
  expect(adam.client.safetyNumber('Eve')).not.toBe(shown);
  expect(adam.messages.map((m) => m.body)).not.toContain('from the relay');
});

it('only a verified identity can become pending: a bad idcert does not flip the contact to changed', async () => {
  const adam0 = await user('Adam');
  const eve = await user('Eve');
  adam0.client.send('Eve', 'hi');
  await waitForMessages(eve, 1);
  const forged = await forgedFirstMessage(createIdentity(), 'Eve', 'Adam', 'forged');
  const o = JSON.parse(Buffer.from(forged).toString('utf8')) as { ik: { idcert: string } };
  o.ik.idcert = toBase64(randomBytes(64));
  await inject('adam', 'Eve', new Uint8Array(Buffer.from(JSON.stringify(o))));
  const adam = await restart(adam0);
  eve.client.send('Adam', 'sentinel');
  await waitFor(() => adam.messages.some((m) => m.body === 'sentinel'), 15000, 'the sentinel');
  expect(adam.client.contactState('Eve')).toBe('unverified');
  expect(adam.errors.some((e) => e.code === 'bad_key')).toBe(true);
});

it('a key bundle counts only for the name that was asked for: a bundle of another user is refused', async () => {
  const adam = await user('Adam');
  const eve = await user('Eve');
  const mallory = await user('Mallory');
  // The relay answers `keys.fetch` for Eve with Mallory's record and prekeys (all valid for Mallory).
  const lookup = relay.store.lookup.bind(relay.store);
  const takeBundle = relay.store.takeBundle.bind(relay.store);
  relay.store.lookup = (canon) => lookup(canon === 'eve' ? 'mallory' : canon);
  relay.store.takeBundle = (canon, opk) => takeBundle(canon === 'eve' ? 'mallory' : canon, opk);
  adam.client.send('Eve', 'for Eve only');
  await waitFor(() => adam.errors.some((e) => e.code === 'bad_message'), 15000, 'the bundle to be refused');
  expect(adam.errors.find((e) => e.code === 'bad_message')!.message).toMatch(/keys of Mallory for eve/);
  // Nothing was pinned for Eve, and the text still waits.
  expect(adam.client.contactState('Eve')).toBeUndefined();
  expect(adam.client.outboxSize()).toBe(1);
  // The relay behaves again: the text reaches Eve, and Mallory never got it (sentinel after it).
  relay.store.lookup = lookup;
  relay.store.takeBundle = takeBundle;
  await waitForMessages(eve, 1, 30000);
  expect(eve.messages.map((m) => m.body)).toEqual(['for Eve only']);
  adam.client.send('Mallory', 'sentinel');
  await waitForMessages(mallory, 1);
  expect(mallory.messages.map((m) => m.body)).toEqual(['sentinel']);
});

it('/accept with no pending change says so (nothing_to_accept)', async () => {
  const adam = await user('Adam');
  const eve = await user('Eve');
  adam.client.send('Eve', 'hi');
  await waitForMessages(eve, 1);
  const err = thrown(() => adam.client.acceptIdentity('Eve', adam.client.safetyNumber('Eve')));
  expect(isChatError(err, 'nothing_to_accept')).toBe(true);
  expect((err as Error).message).toMatch(/No safety-number change to accept for Eve/);
});

it('a text to an unknown user fails for good: state failed, one error, no retries', async () => {
  const adam = await user('Adam');
  const eve = await user('Eve');
  const msg = adam.client.send('Nobody', 'hello?');
  await waitFor(
    () => (adam.events.receipt ?? []).some((r) => r.state === 'failed' && r.ids.includes(msg.id)),
    15000,
    'the text to fail',
  );
  expect(adam.client.history('Nobody')[0].state).toBe('failed');
  expect(adam.client.outboxSize()).toBe(0);
  // Sentinel: a later text to Eve arrives, and still only one unknown_user error was shown.
  adam.client.send('Eve', 'sentinel');
  await waitForMessages(eve, 1, 15000);
  expect(adam.errors.filter((e) => e.code === 'unknown_user')).toHaveLength(1);
});

it('a burst arrives in order, with no error shown', async () => {
  await relay.stop();
  relay = await startRelayWithStore({ limits: { requestsPerSecond: 100, requestBurst: 20 } });
  const adam = await user('Adam');
  const eve = await user('Eve');
  const n = 300;
  const texts = Array.from({ length: n }, (_, i) => `burst ${i}`);
  for (const t of texts) adam.client.send('Eve', t);
  await waitForMessages(eve, n, 60000);
  expect(eve.messages.map((m) => m.body)).toEqual(texts);
  expect(adam.errors).toEqual([]);
}, 90000);

describe('no error that can lose data is swallowed', () => {
  it('a failed flush is retried by itself: the text arrives', async () => {
    const adam = await user('Adam', { wrapStore: faultyStore });
    const eve = await user('Eve');
    adam.client.send('Eve', 'warm up');
    await waitForMessages(eve, 1);
    (adam.store as FaultyStore).fail('queueOutgoing', new ChatError('storage_failed', 'the disk is full'), 1);
    adam.client.send('Eve', 'after a full disk');
    await waitFor(() => adam.errors.some((e) => e.code === 'storage_failed'), 15000, 'the failure shown');
    await waitFor(() => eve.messages.some((m) => m.body === 'after a full disk'), 30000, 'the retry');
  }, 60000);

  it('a non-ChatError while storing a delivery is not acked away: the message comes again', async () => {
    const eve = await user('Eve', { wrapStore: faultyStore });
    const adam = await user('Adam');
    (eve.store as FaultyStore).fail('addMessage', new TypeError('a bug'), 1);
    adam.client.send('Eve', 'kept');
    await waitFor(() => eve.errors.length > 0, 15000, 'the failure shown');
    expect(eve.errors.some((e) => e.code === 'decrypt_failed')).toBe(false);
    await waitFor(() => eve.messages.some((m) => m.body === 'kept'), 30000, 'the redelivery');
  }, 60000);

  it('a delivered receipt that fails to store is sent later, not dropped', async () => {
    const eve = await user('Eve', { wrapStore: faultyStore });
    const adam = await user('Adam');
    adam.client.send('Eve', 'one');
    await waitForMessages(eve, 1);
    (eve.store as FaultyStore).fail('queueOutgoing', new ChatError('storage_failed', 'the disk is full'), 1);
    const m = adam.client.send('Eve', 'two');
    await waitFor(
      () => adam.client.history('Eve').some((x) => x.id === m.id && x.state === 'delivered'),
      30000,
      'the delivered receipt',
    );
  }, 60000);
});

it('deleteMessage and closeConversation', async () => {
  const adam = await user('Adam');
  const eve = await user('Eve');
  const m = adam.client.send('Eve', 'to delete');
  await waitForMessages(eve, 1);
  expect(adam.client.deleteMessage('Eve', m.id)).toBe(true);
  expect(adam.client.deleteMessage('Eve', m.id)).toBe(false);
  expect(adam.client.history('Eve')).toEqual([]);
  const n = adam.client.send('Nobody', 'x');
  adam.client.closeConversation('Nobody');
  expect(adam.client.contacts().map((c) => c.canon)).not.toContain('nobody');
  expect(n.id).toHaveLength(32);
  void tempDir;
});

it('a first message without a one-time prekey cannot be replayed after its session is gone', async () => {
  const first = await user('Eve');
  await waitFor(async () => (await relay.store.countOpks('eve')) === 100, 15000, 'Eve’s prekeys');
  await stopUser(first);
  const drainer = await connectClient(relay.port, 'Drainer');
  await drainer.next('welcome');
  for (let i = 0; i < 100; i++) await drainer.request({ t: 'keys.fetch', user: 'Eve' }, 'keys.bundle');
  drainer.close();
  const captured: Uint8Array[] = [];
  const enqueue = relay.store.enqueue.bind(relay.store);
  // Every envelope through the hook: none taken early, by callback (`enqueueEarly`).
  relay.store.enqueueEarly = undefined;
  relay.store.enqueue = async (env) => {
    if (env.from === 'Adam') captured.push(envelopeBytes(env.env));
    return enqueue(env);
  };
  const adam = await user('Adam');
  adam.client.send('Eve', 'first, signed prekey only');
  await waitFor(() => captured.length === 1, 15000, 'the first message');
  const eve0 = await user('Eve', { dir: first.dir });
  await waitForMessages(eve0, 1);
  expect(JSON.parse(Buffer.from(captured[0]).toString('utf8'))).not.toHaveProperty('opk');
  // Eve's session with Adam is gone (pruned, or a restore); the relay replays the first message.
  eve0.store.archiveSessions('adam', 0, '');
  await inject('eve', 'Adam', captured[0]);
  const eve = await restart(eve0);
  const bob = await user('Bob');
  bob.client.send('Eve', 'sentinel');
  await waitFor(() => eve.messages.some((m) => m.body === 'sentinel'), 15000, 'the sentinel');
  expect(eve.store.sessions('adam')).toEqual([]);
  expect(eve.messages.map((m) => m.body)).toEqual(['sentinel']);
});

it('a message that can no longer be decrypted is reported, not dropped', async () => {
  const eveClock = { offset: 0 };
  const now = () => Date.now() + eveClock.offset;
  const eve0 = await user('Eve', { client: { now } });
  const adam = await user('Adam');
  // The relay withholds Adam's second message.
  const withheld: Parameters<RelayStore['enqueue']>[0][] = [];
  const enqueue = relay.store.enqueue.bind(relay.store);
  // Every envelope through the hook: none taken early, by callback (`enqueueEarly`).
  relay.store.enqueueEarly = undefined;
  let withholdNext = false;
  relay.store.enqueue = async (env) => {
    if (env.from === 'Adam' && withholdNext) {
      withholdNext = false;
      withheld.push(env);
      return 'ok';
    }
    return enqueue(env);
  };
  eve0.client.send('Adam', 'hello');
  await waitForMessages(adam, 1);
  adam.client.send('Eve', 'one');
  await waitForMessages(eve0, 1);
  // Eve goes offline; the relay withholds Adam's next message and queues the one after.
  await stopUser(eve0);
  withholdNext = true;
  adam.client.send('Eve', 'two');
  await waitFor(() => withheld.length === 1, 15000, 'the withheld message');
  adam.client.send('Eve', 'three');
  await waitFor(() => adam.client.outboxSize() === 0, 15000, 'the relay to take it');
  const eve1 = await user('Eve', { dir: eve0.dir, client: { now } });
  await waitFor(() => eve1.messages.some((m) => m.body === 'three'), 15000, 'the third message');
  // Eight days later (skipped keys live seven), the relay delivers the withheld one.
  eveClock.offset = 8 * 24 * 60 * 60 * 1000;
  relay.store.enqueue = enqueue;
  await stopUser(eve1);
  await enqueue({ ...withheld[0], id: toHex(randomBytes(16)) });
  const eve = await user('Eve', { dir: eve0.dir, client: { now } });
  const bob = await user('Bob');
  bob.client.send('Eve', 'sentinel');
  await waitFor(() => eve.messages.some((m) => m.body === 'sentinel'), 15000, 'the sentinel');
  expect(eve.errors).toContainEqual(
    expect.objectContaining({
      code: 'message_expired',
      message: 'a message from Adam could not be decrypted (expired)',
    }),
  );
});
