/**
 * A peer who registered but has published no prekeys yet: the relay answers `keys.fetch` with
 * `unknown_user` ("has published no keys yet"), and allows only 10 of them a minute per identity
 * (docs/protocol.md section 7). Lines typed to that peer wait for the scheduled retry instead of
 * each asking again; the user is told once. Real relay and real Clients over loopback sockets.
 */
import { loadOrCreateIdentity } from '../../lib/client/identity-store';
import { openRelayStore } from '../../lib/server/sqlite-store';
import type { RelayStore } from '../../lib/server/store';
import { makeUser, type TestUser } from '../helpers/client-harness';
import { loginClient, startRelay, tempDir, type TestRelay, waitFor } from '../helpers/relay-harness';

const LINES = 8;

let relay: TestRelay;
const users: TestUser[] = [];
/** `keys.fetch` the relay served for each target: each one that passes its rate limit takes a bundle. */
const fetches = new Map<string, number>();

/** The real SQLite store, counting `takeBundle` per target (what a `keys.fetch` does at the relay). */
function countingStore(real: RelayStore): RelayStore {
  return new Proxy(real, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (prop === 'takeBundle') fetches.set(args[0] as string, (fetches.get(args[0] as string) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

beforeEach(async () => {
  fetches.clear();
  const dir = tempDir();
  // The relay's default limits: 10 `keys.fetch` a minute per identity.
  relay = await startRelay({ dir, store: countingStore(openRelayStore(dir)) });
});

afterEach(async () => {
  for (const u of users.splice(0)) await u.stop().catch(() => undefined);
  await relay.stop().catch(() => undefined);
});

it('lines typed to a user without prekeys cost one keys.fetch, not one each, and all arrive in order once she publishes', async () => {
  // Eve registers (a bare protocol login with the identity her client will use) and publishes nothing.
  const eveDir = tempDir('chatsecure-Eve-');
  const rawEve = await loginClient(relay.port, 'Eve', loadOrCreateIdentity(eveDir).identity);
  rawEve.close();
  await rawEve.whenClosed();

  const adam = await makeUser(relay.port, 'Adam');
  users.push(adam);
  const bob = await makeUser(relay.port, 'Bob');
  users.push(bob);
  // Adam has a session with Bob, whose messages then go in the same flushes as the lines for Eve.
  adam.client.send('Bob', 'hi Bob');
  await waitFor(() => bob.messages.length === 1, 10000, 'the first message at Bob');

  const typed: string[] = [];
  for (let i = 0; i < LINES; i++) {
    typed.push(adam.client.send('Eve', `line ${i}`).id);
    // Typed one after another: each line's flush has run (it sent the line to Bob after it)
    // before the next line is typed.
    adam.client.send('Bob', `tick ${i}`);
    await waitFor(() => bob.messages.length === i + 2, 10000, `tick ${i} at Bob`);
  }
  // The first line's fetch, and perhaps the first scheduled retry (2 s later): not one per line.
  expect(fetches.get('eve') ?? 0).toBeGreaterThanOrEqual(1);
  expect(fetches.get('eve') ?? 0).toBeLessThanOrEqual(2);
  // A fetch over the relay's bucket is refused before it takes a bundle, uncounted above: none was.
  expect(adam.errors.filter((e) => e.code === 'rate_limited')).toEqual([]);
  // Told once, not once per line.
  const waiting = adam.errors.filter((e) => e.code === 'unknown_user');
  expect(waiting).toHaveLength(1);
  expect(waiting[0].message).toMatch(/has published no keys yet; the message waits and is retried/);
  // Nothing dropped: every line is still there, waiting.
  expect(adam.client.history('Eve').map((m) => [m.id, m.state])).toEqual(typed.map((id) => [id, 'sending']));

  // Eve's client starts, publishes her prekeys, and every line arrives, in the order typed.
  const eve = await makeUser(relay.port, 'Eve', { dir: eveDir });
  users.push(eve);
  await waitFor(() => eve.messages.length >= LINES, 60000, 'every line at Eve');
  expect(eve.messages.map((m) => m.body)).toEqual(typed.map((_, i) => `line ${i}`));
  expect(eve.messages.map((m) => m.id)).toEqual(typed);
});
