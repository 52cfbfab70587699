/**
 * Issue 9, point 7, client and relay together over a real relay (docs/protocol.md 7.1).
 *
 * A message to a contact whose identity changed on the relay is not lost: Adam's text to a
 * re-created Eve is refused at `send` time, Eve shows as changed, the text is kept, and after
 * /accept it is sealed again for the new Eve and arrives.
 */
import { makeUser, startRelayWithStore, type TestUser } from '../helpers/client-harness';
import { type TestRelay, waitFor } from '../helpers/relay-harness';

let relay: TestRelay;
const users: TestUser[] = [];
beforeEach(async () => {
  relay = await startRelayWithStore({ limits: { keysFetchPerMinute: 1000 } });
});
afterEach(async () => {
  for (const u of users.splice(0)) await u.stop().catch(() => undefined);
  await relay.stop().catch(() => undefined);
});

it('a message to a contact whose identity changed on the relay is not lost', async () => {
  const adam = await makeUser(relay.port, 'Adam');
  users.push(adam);
  const eve = await makeUser(relay.port, 'Eve');
  users.push(eve);
  adam.client.send('Eve', 'hi');
  await waitFor(() => eve.messages.length === 1, 15000, 'the first message');
  await eve.stop();
  users.splice(users.indexOf(eve), 1);
  await relay.store.freeName('eve');
  const eve2 = await makeUser(relay.port, 'Eve');
  users.push(eve2);

  const m = adam.client.send('Eve', 'are you there?');
  await waitFor(() => adam.client.contactState('Eve') === 'changed', 15000, 'the refusal');
  expect(adam.errors.some((e) => e.code === 'identity_changed')).toBe(true);
  expect(adam.client.history('Eve').find((x) => x.id === m.id)?.state).toBe('sending');
  adam.client.acceptIdentity('Eve', adam.client.safetyNumber('Eve'));
  await waitFor(() => eve2.messages.some((x) => x.body === 'are you there?'), 15000, 'the resealed text');
  expect(eve2.errors.filter((e) => /could not be decrypted/.test(e.message))).toEqual([]);
});
