/**
 * Issue 9, point 8, client and relay together over a real relay (docs/protocol.md 7.1).
 *
 * A user who lost their data dir gets the name back with the recovery code, and nobody else can.
 */
import { loadOrCreateRecoveryCode } from '../../lib/client/recovery-store';
import { newRecoveryCode } from '../../lib/crypto/recovery';
import { makeUser, type TestUser } from '../helpers/client-harness';
import { startRelay, tempDir, type TestRelay, waitFor } from '../helpers/relay-harness';

let relay: TestRelay;
const users: TestUser[] = [];
beforeEach(async () => {
  relay = await startRelay({ limits: { keysFetchPerMinute: 1000 } });
});
afterEach(async () => {
  for (const u of users.splice(0)) await u.stop().catch(() => undefined);
  await relay.stop().catch(() => undefined);
});

it('a user who lost their data dir can get their name back, and nobody else can', async () => {
  const dir = tempDir('eve-');
  const { code } = loadOrCreateRecoveryCode(dir);
  const adam = await makeUser(relay.port, 'Adam');
  users.push(adam);
  const eve = await makeUser(relay.port, 'Eve', {
    dir,
    client: { recoveryCode: code, recoveryCodeNew: true },
  });
  users.push(eve);
  adam.client.send('Eve', 'hi');
  await waitFor(() => eve.messages.length === 1, 15000, 'the first message');
  await eve.stop();
  users.splice(users.indexOf(eve), 1);

  // Mallory, with a wrong code, cannot take the name.
  const mallory = await makeUser(relay.port, 'Eve', {
    start: false,
    client: { recoveryCode: newRecoveryCode(), recover: true },
  });
  users.push(mallory);
  mallory.client.start();
  await waitFor(() => mallory.client.connection.state === 'closed', 15000, 'the refusal');

  // Eve, with a new data dir and her code, can.
  const back = await makeUser(relay.port, 'Eve', { client: { recoveryCode: code, recover: true } });
  users.push(back);
  back.client.send('Adam', 'it is me, recovered');
  await waitFor(() => adam.client.contactState('Eve') === 'changed', 15000, 'the safety-number change');
});
