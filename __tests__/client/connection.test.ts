/**
 * The connection's life (lib/client/connection.ts) through the Client's public API, with a real
 * relay on loopback: the order of events on a drop and on the next welcome, and requests refused
 * while there is no connection.
 */
import { makeUser, type TestUser, waitForMessages } from '../helpers/client-harness';
import { startRelay, type TestRelay, waitFor } from '../helpers/relay-harness';

let relay: TestRelay;
const users: TestUser[] = [];

async function user(name: string): Promise<TestUser> {
  const u = await makeUser(relay.port, name, { client: { reconnect: { baseMs: 200, maxMs: 500 } } });
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

it('a drop shows the contact offline before the state; the next welcome shows the state, then presence', async () => {
  const adam = await user('Adam');
  const eve = await user('Eve');
  adam.client.send('Eve', 'hello');
  await waitForMessages(eve, 1);
  await waitFor(() => adam.client.isOnline('Eve'), 5000, 'Adam to see Eve online');

  const seen: string[] = [];
  adam.client.on('state', (s) => seen.push(`state ${s.state}`));
  adam.client.on('presence', (p) => seen.push(`presence ${p.user.toLowerCase()} ${p.online}`));

  const { dir, port } = relay;
  await relay.stop();
  await waitFor(() => adam.client.connection.state !== 'online', 5000, 'Adam to notice the drop');
  expect(seen[0]).toBe('presence eve false');
  expect(seen[1]).toMatch(/^state (offline|connecting)$/);
  expect(adam.client.isOnline('Eve')).toBe(false);
  await expect(adam.client.list()).rejects.toMatchObject({ code: 'connection_closed' });

  relay = await startRelay({ dir, port });
  await adam.online();
  await eve.online();
  await waitFor(() => adam.client.isOnline('Eve'), 10000, 'Adam to see Eve online again');
  const online = seen.indexOf('state online');
  expect(online).toBeGreaterThan(1);
  expect(seen.indexOf('presence eve true')).toBeGreaterThan(online);
  const list = await adam.client.list();
  expect(list.filter((u) => u.online).map((u) => u.name.toLowerCase())).toContain('eve');
});
