/**
 * Presence by subscription (issue 10) and the paged directory: a change goes only to the
 * connections that watch that user, gathered into one frame per watcher and turn; `users` comes
 * in pages with `more`. Small limits here exercise the same paths a large relay takes.
 */
import {
  connectClient,
  loginClient,
  startRelay,
  type TestClient,
  type TestRelay,
  waitFor,
} from '../helpers/relay-harness';

let relay: TestRelay;
const raw: TestClient[] = [];

beforeAll(async () => {
  relay = await startRelay({ limits: { usersPageSize: 2 } });
});

afterAll(async () => {
  for (const c of raw) c.close();
  await relay.stop();
});

it('welcome lists nobody and announces the limits; /list returns the whole directory in pages', async () => {
  for (const name of ['Ann', 'Ben', 'Cat', 'Dan', 'Eli']) raw.push(await loginClient(relay.port, name));
  const zoe = await connectClient(relay.port, 'Zoe');
  raw.push(zoe);
  const w = await zoe.next('welcome');
  expect(w.users).toBeUndefined();
  expect(w.limits?.requestsPerSecond).toBe(50);
  const rid = 'page-test';
  zoe.send({ t: 'list', rid });
  const pages = [await zoe.next('users'), await zoe.next('users'), await zoe.next('users')];
  expect(pages.map((p) => p.users.length)).toEqual([2, 2, 2]);
  expect(pages.map((p) => p.more ?? false)).toEqual([true, true, false]);
  expect(pages.flatMap((p) => p.users.map((u) => u.name)).sort()).toEqual([
    'Ann',
    'Ben',
    'Cat',
    'Dan',
    'Eli',
    'Zoe',
  ]);
});

it('sends presence only to watchers, one frame per watcher for the changes of one moment', async () => {
  const watcher = await loginClient(relay.port, 'Watcher');
  const bystander = await loginClient(relay.port, 'Bystander');
  raw.push(watcher, bystander);
  const state = await watcher.request(
    { t: 'presence.watch', users: ['ann', 'Ben', 'Cat', 'Dan', 'Eli', 'Nobody'] },
    'presence.batch',
  );
  expect(state.t).toBe('presence.batch');
  if (state.t !== 'presence.batch') return;
  expect(state.changes).toEqual(['Ann', 'Ben', 'Cat', 'Dan', 'Eli'].map((user) => ({ user, online: true })));
  const frames: { t: string; n: number }[] = [];
  const seenByBystander: string[] = [];
  watcher.channel.on('message', (m) => {
    if (m.t === 'presence') frames.push({ t: m.t, n: 1 });
    if (m.t === 'presence.batch') frames.push({ t: m.t, n: m.changes.length });
  });
  bystander.channel.on('message', (m) => {
    if (m.t === 'presence' || m.t === 'presence.batch') seenByBystander.push(m.t);
  });
  for (const c of raw.slice(0, 5)) c.channel.destroy({ code: 'closed', message: 'bye' });
  await waitFor(() => frames.reduce((a, f) => a + f.n, 0) >= 5, 10_000, 'five departures');
  expect(frames.length).toBeLessThan(5);
  // The sentinel: the bystander's pong comes after anything the relay sent it before.
  expect((await bystander.request({ t: 'ping' }, 'pong')).t).toBe('pong');
  expect(seenByBystander).toEqual([]);
  const un = await watcher.request({ t: 'presence.unwatch', users: ['Ann'] }, 'presence.batch');
  expect(un.t === 'presence.batch' && un.changes).toEqual([]);
});
