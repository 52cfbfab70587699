/**
 * Issue 3 scenarios with real Client objects and a real relay on loopback: live messaging,
 * offline delivery across a relay restart, reconnect after a cut, name_taken, a changed relay
 * key, and no message body in the relay's database or log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createIdentity } from '../../lib/crypto/identity';
import { isChatError } from '../../lib/errors';
import { makeUser, type TestUser, waitForMessages } from '../helpers/client-harness';
import { BlackholeProxy } from '../faults/fault-harness';
import { connectClient, startRelay, tempDir, type TestRelay, waitFor } from '../helpers/relay-harness';

let relay: TestRelay;
const users: TestUser[] = [];

async function user(name: string, opts: Parameters<typeof makeUser>[2] = {}): Promise<TestUser> {
  const u = await makeUser(relay.port, name, opts);
  users.push(u);
  return u;
}

beforeEach(async () => {
  relay = await startRelay();
});

afterEach(async () => {
  for (const u of users.splice(0)) await u.stop().catch(() => undefined);
  await relay.stop().catch(() => undefined);
});

it('Adam and Eve, both online, exchange messages both ways, and /list shows both online', async () => {
  const adam = await user('Adam');
  const eve = await user('Eve');
  adam.client.send('Eve', 'hello Eve');
  await waitForMessages(eve, 1);
  expect(eve.messages[0]).toMatchObject({ peerName: 'Adam', body: 'hello Eve', direction: 'in' });
  eve.client.send('adam', 'hi Adam');
  await waitForMessages(adam, 1);
  expect(adam.messages[0]).toMatchObject({ peer: 'adam'.replace('adam', 'eve'), body: 'hi Adam' });

  // Delivered receipts travel end to end, and read receipts once shown.
  await waitFor(() =>
    adam.client.history('Eve').some((m) => m.direction === 'out' && m.state === 'delivered'),
  );
  eve.client.markShown('Adam');
  await waitFor(() => adam.client.history('Eve').some((m) => m.direction === 'out' && m.state === 'read'));

  const list = await adam.client.list();
  expect(
    list
      .filter((u) => u.online)
      .map((u) => u.name)
      .sort(),
  ).toEqual(['Adam', 'Eve']);
});

it('queues for an offline Eve across a relay restart; she receives every message once, in order', async () => {
  const eveDir = tempDir('eve-');
  const eve = await user('Eve', { dir: eveDir });
  await eve.stop();
  users.splice(users.indexOf(eve), 1);

  const adam = await user('Adam');
  const texts = Array.from({ length: 5 }, (_, i) => `queued ${i}`);
  for (const t of texts) adam.client.send('Eve', t);
  await waitFor(() => adam.client.outboxSize() === 0, 10000, 'the relay to take every message');
  expect(adam.client.history('Eve').every((m) => m.state === 'queued')).toBe(true);

  // The relay stops and starts again on the same data dir and port.
  const { dir, port } = relay;
  await adam.stop();
  users.splice(users.indexOf(adam), 1);
  await relay.stop();
  relay = await startRelay({ dir, port });

  const eve2 = await user('Eve', { dir: eveDir, client: { port: relay.port } });
  await waitForMessages(eve2, 5);
  await new Promise((r) => setTimeout(r, 300));
  expect(eve2.messages.map((m) => m.body)).toEqual(texts);
});

it('reconnects by itself after a cut; nothing typed is lost or shown twice', async () => {
  // Adam reaches the relay through a proxy that can drop his TCP connection like a network would.
  const proxy = await BlackholeProxy.start(relay.port);
  try {
    // A reconnect delay of 250-500 ms leaves a window to type in while offline.
    const adam = await user('Adam', {
      client: { port: proxy.port, reconnect: { baseMs: 500, maxMs: 1000 } },
    });
    const eve = await user('Eve');
    adam.client.send('Eve', 'before the cut');
    await waitForMessages(eve, 1);

    // Cut Adam's TCP connection under him, then type while he is offline.
    proxy.cut();
    await waitFor(() => adam.client.connection.state === 'offline', 5000, 'Adam offline');
    adam.client.send('Eve', 'typed while offline 1');
    adam.client.send('Eve', 'typed while offline 2');
    await adam.online();
    // A sentinel after them: a text shown twice would arrive before it (one sender, in order).
    adam.client.send('Eve', 'sentinel');
    await waitForMessages(eve, 4);
    expect(eve.messages.map((m) => m.body)).toEqual([
      'before the cut',
      'typed while offline 1',
      'typed while offline 2',
      'sentinel',
    ]);
    expect(eve.client.history('Adam').length).toBe(4);
  } finally {
    await proxy.close();
  }
});

it('refuses a second identity that tries to log in as Adam with name_taken', async () => {
  await user('Adam');
  const intruder = await connectClient(relay.port, 'adam', createIdentity());
  const err = await intruder.next('error');
  expect(err.code).toBe('name_taken');
  await intruder.whenClosed();

  const impostor = await user('ADAM', { start: false });
  impostor.client.start();
  await waitFor(() => impostor.client.connection.state === 'closed' && impostor.errors.length > 0);
  expect(impostor.errors[0].code).toBe('name_taken');
});

it('refuses a relay whose key changed, and says how to fix it', async () => {
  const adamDir = tempDir('adam-');
  const adam = await user('Adam', { dir: adamDir });
  await adam.stop();
  users.splice(users.indexOf(adam), 1);
  const port = relay.port;
  await relay.stop();
  // Another relay (another key) on the same address.
  relay = await startRelay({ port });
  const again = await user('Adam', { dir: adamDir, start: false });
  again.client.start();
  await waitFor(() => again.client.connection.state === 'closed' && again.errors.length > 0);
  expect(again.errors[0].code).toBe('server_key_changed');
  expect(again.errors[0].message).toMatch(/changed/i);
  expect(again.errors[0].message).toContain('known_servers');
});

it('keeps message bodies out of the relay database and log, and out of client logs', async () => {
  const adam = await user('Adam');
  const eve = await user('Eve');
  const secret = 'the-secret-body-' + Math.random().toString(36).slice(2);
  adam.client.send('Eve', secret);
  await waitForMessages(eve, 1);
  await eve.stop();
  users.splice(users.indexOf(eve), 1);
  adam.client.send('Eve', secret + '-queued');
  await waitFor(() => adam.client.outboxSize() === 0);
  await relay.stop();
  for (const f of fs.readdirSync(relay.dir)) {
    const content = fs.readFileSync(path.join(relay.dir, f));
    expect(content.includes(Buffer.from(secret))).toBe(false);
  }
  for (const f of [adam.logFile, eve.logFile]) {
    expect(fs.readFileSync(f, 'utf8')).not.toContain(secret);
  }
});

it('refuses a 20 KiB body with too_large before anything is stored', async () => {
  const adam = await user('Adam');
  let err: unknown;
  try {
    adam.client.send('Eve', 'x'.repeat(20 * 1024));
  } catch (e) {
    err = e;
  }
  expect(isChatError(err, 'too_large')).toBe(true);
  expect(adam.client.history('Eve')).toEqual([]);
});

it('sends a burst of 150 messages once each: nothing is resent while the relay answers, nothing rate-limited', async () => {
  const eve = await user('Eve');
  const adam = await user('Adam');
  for (let i = 0; i < 150; i++) adam.client.send('Eve', `burst ${i}`);
  await waitForMessages(eve, 150, 20000);
  await waitFor(() => adam.client.outboxSize() === 0, 10000, 'the outbox to drain');
  expect(adam.errors.filter((e) => e.code === 'rate_limited')).toEqual([]);
  expect(eve.errors.filter((e) => e.code === 'rate_limited')).toEqual([]);
  expect(eve.messages.map((m) => m.body)).toEqual(Array.from({ length: 150 }, (_, i) => `burst ${i}`));
  // Eve's delivered receipts went out in batches, not one envelope each.
  await waitFor(
    () => adam.client.history('Eve').every((m) => m.state === 'delivered'),
    10000,
    'delivered marks',
  );
});
