/**
 * Groups through the client core (issue 16): real `Client`s, each with its own SQLite store,
 * through a real relay on loopback. State, changes and sender keys travel pairwise; group
 * messages are sealed once and fanned out by `send.multi`.
 */
import { makeUser, type TestUser } from '../helpers/client-harness';
import { startRelay, type TestRelay, waitFor } from '../helpers/relay-harness';

let relay: TestRelay;
const users: TestUser[] = [];

async function user(name: string): Promise<TestUser> {
  const u = await makeUser(relay.port, name);
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

const groupTexts = (u: TestUser, key: string) =>
  u.client.history(key).map((m) => `${m.direction === 'out' ? u.client.name : m.sender}: ${m.body}`);

it('a group of 5 exchanges messages; each member sees every message once, in each sender order', async () => {
  const names = ['Adam', 'Bea', 'Cy', 'Dee', 'Eve'];
  const all: TestUser[] = [];
  for (const n of names) all.push(await user(n));
  const [adam] = all;
  const info = adam.client.createGroup('Friends', names.slice(1));
  expect(info.members).toEqual(['adam', 'bea', 'cy', 'dee', 'eve']);
  expect(info.admins).toEqual(['adam']);
  for (const u of all.slice(1)) {
    await waitFor(() => u.client.group(info.id)?.member === true, 10000, `${u.client.name} to join`);
    expect(u.client.group('friends')?.members).toEqual(info.members);
  }
  const rounds = 3;
  for (let r = 0; r < rounds; r++) {
    for (const u of all) u.client.sendGroup(info.key, `${u.client.name} ${r}`);
  }
  const expected = rounds * names.length;
  for (const u of all) {
    await waitFor(() => u.client.history(info.key).length === expected, 20000, `${u.client.name} history`);
  }
  for (const u of all) {
    const lines = groupTexts(u, info.key);
    for (const n of names) {
      expect(lines.filter((l) => l.startsWith(`${n}:`))).toEqual(
        Array.from({ length: rounds }, (_, r) => `${n}: ${n} ${r}`),
      );
    }
    expect(u.errors).toEqual([]);
  }
  // Receipts: every other member has Adam's first message; read once shown.
  const first = adam.client.history(info.key).find((m) => m.direction === 'out')!;
  await waitFor(
    () => adam.client.groupReceipts(info.key, first.id)?.delivered.length === 4,
    10000,
    'delivered',
  );
  all[1].client.markShown(info.key);
  await waitFor(() => adam.client.groupReceipts(info.key, first.id)?.read.length === 1, 10000, 'read');
  expect(adam.client.history(info.key).find((m) => m.id === first.id)?.state).toBe('read');
});
