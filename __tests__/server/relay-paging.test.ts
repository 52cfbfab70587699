/**
 * A directory or an online list larger than one frame: `welcome` carries at most
 * welcomeMaxUsers names and the rest follow as `presence`; `users` comes in pages with `more`.
 * Small limits here exercise the same paths a relay with thousands of users takes.
 */
import { makeUser, type TestUser } from '../helpers/client-harness';
import { loginClient, startRelay, type TestClient, type TestRelay, waitFor } from '../helpers/relay-harness';

let relay: TestRelay;
const raw: TestClient[] = [];
const users: TestUser[] = [];

beforeAll(async () => {
  relay = await startRelay({ limits: { welcomeMaxUsers: 2, usersPageSize: 2 } });
});

afterAll(async () => {
  for (const c of raw) c.close();
  for (const u of users) await u.stop();
  await relay.stop();
});

it('a newcomer learns every online user, and /list returns the whole directory', async () => {
  for (const name of ['Ann', 'Ben', 'Cat', 'Dan', 'Eli']) raw.push(await loginClient(relay.port, name));
  const zoe = await makeUser(relay.port, 'Zoe');
  users.push(zoe);
  await waitFor(
    () => new Set((zoe.events.presence ?? []).filter((p) => p.online).map((p) => p.user)).size === 5,
    5000,
    'all five online users',
  );
  const list = await zoe.client.list();
  expect(list.map((u) => u.name).sort()).toEqual(['Ann', 'Ben', 'Cat', 'Dan', 'Eli', 'Zoe']);
  expect(list.every((u) => u.online)).toBe(true);

  // A bare client sees the pages themselves.
  const rid = 'page-test';
  raw[0].send({ t: 'list', rid });
  const pages = [await raw[0].next('users'), await raw[0].next('users'), await raw[0].next('users')];
  expect(pages.map((p) => p.users.length)).toEqual([2, 2, 2]);
  expect(pages.map((p) => p.more ?? false)).toEqual([true, true, false]);
});

it('gathers the presence changes of one moment into one frame per recipient', async () => {
  const watcher = await loginClient(relay.port, 'Watcher');
  raw.push(watcher);
  const frames: { t: string; n: number }[] = [];
  watcher.channel.on('message', (m) => {
    if (m.t === 'presence') frames.push({ t: m.t, n: 1 });
    if (m.t === 'presence.batch') frames.push({ t: m.t, n: m.changes.length });
  });
  // Five users leave at once: their departures reach the watcher in fewer than five frames.
  const leaving = raw.slice(0, 5);
  for (const c of leaving) c.channel.destroy({ code: 'closed', message: 'bye' });
  await waitFor(() => frames.reduce((a, f) => a + f.n, 0) >= 5, 5000, 'five departures');
  expect(frames.length).toBeLessThan(5);
  expect(frames.some((f) => f.t === 'presence.batch')).toBe(true);
});
