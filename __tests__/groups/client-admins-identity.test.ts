/**
 * Two admins changing a group at once end in the same state on every client, and a member whose
 * identity changed blocks sending to the group until accepted or left out (issue 16). Real
 * `Client`s through a real relay on loopback.
 */
import { isChatError } from '../../lib/errors';
import type { GroupEvent, GroupInfo } from '../../lib/client/types';
import { relayPerTest, startRelayWithStore, type TestUser } from '../helpers/client-harness';
import { waitFor } from '../helpers/relay-harness';

const t = relayPerTest(() => startRelayWithStore({ limits: { keysFetchPerMinute: 1000 } }));
const { user, stop } = t;

const view = (i: GroupInfo) => ({ name: i.name, members: i.members, admins: i.admins, version: i.version });

const count = (u: TestUser, what: GroupEvent['what']) =>
  (u.events.group ?? []).filter((e) => e.what === what).length;

it('two admins change the group at once, twice, and every member ends in the same state', async () => {
  const all = [await user('Adam'), await user('Bea'), await user('Cy'), await user('Dee')];
  const [adam, bea, cy, dee] = all;
  const g = adam.client.createGroup('Start', ['Bea', 'Cy', 'Dee']);
  for (const u of all) await waitFor(() => u.client.group(g.id)?.member === true, 10000, 'joined');
  adam.client.setGroupAdmin(g.key, 'Bea', true);
  for (const u of all) {
    await waitFor(() => u.client.group(g.id)!.admins.includes('bea'), 10000, `${u.client.name}: Bea admin`);
  }

  // Both rename from the same version, before either hears of the other.
  adam.client.renameGroup(g.key, 'Alpha');
  bea.client.renameGroup(g.key, 'Beta');
  for (const u of all) await waitFor(() => count(u, 'renamed') === 2, 10000, `${u.client.name}: two renames`);
  const first = view(adam.client.group(g.id)!);
  expect(['Alpha', 'Beta']).toContain(first.name);
  for (const u of all) expect(view(u.client.group(g.id)!)).toEqual(first);

  // Adam removes Cy while Bea makes Cy an admin: whichever sorts first, all agree.
  adam.client.removeFromGroup(g.key, ['Cy']);
  bea.client.setGroupAdmin(g.key, 'Cy', true);
  for (const u of [adam, bea, dee]) {
    await waitFor(
      () => count(u, 'removed') === 1 && count(u, 'admin') === 2,
      10000,
      `${u.client.name}: both changes`,
    );
  }
  const second = view(adam.client.group(g.id)!);
  expect(second.members).toEqual(['adam', 'bea', 'dee']);
  for (const u of [bea, dee]) expect(view(u.client.group(g.id)!)).toEqual(second);
  await waitFor(() => cy.client.group(g.id)?.member === false, 10000, 'Cy is out');

  // And the group still works for the three, under their rotated keys.
  for (const u of [adam, bea, dee]) u.client.sendGroup(g.key, `${u.client.name} after`);
  for (const u of [adam, bea, dee]) {
    await waitFor(
      () => u.client.history(g.key).filter((m) => m.body.endsWith('after')).length === 3,
      10000,
      `${u.client.name} reads the three`,
    );
  }
});

/**
 * Adam's group "Team" with Bea and Cy; `writer` writes once, so Cy has that member's key; then Cy
 * registers again with a new identity (a new device). Resolves with the new Cy.
 */
async function teamThenNewCy(writer: 'adam' | 'bea') {
  const [adam, bea] = [await user('Adam'), await user('Bea')];
  const oldCy = await user('Cy');
  const g = adam.client.createGroup('Team', ['Bea', 'Cy']);
  for (const u of [bea, oldCy]) await waitFor(() => u.client.group(g.id)?.member === true, 10000, 'joined');
  (writer === 'adam' ? adam : bea).client.sendGroup(g.key, 'first');
  await waitFor(() => oldCy.client.history(g.key).length === 1, 10000, 'Cy reads the first');
  await stop(oldCy);
  await t.relay.store.freeName('cy');
  return { adam, bea, cy: await user('Cy'), g };
}

it('a member whose identity changed blocks sending to the group until accepted, with a clear error', async () => {
  const { adam, bea, g } = await teamThenNewCy('adam');

  const m = adam.client.sendGroup(g.key, 'second');
  await waitFor(() => adam.client.group(g.id)!.blockedBy.includes('cy'), 10000, 'the refusal');
  const err = adam.errors.find((e) => e.code === 'identity_changed');
  expect(err).toMatchObject({ peer: g.key });
  expect(err!.message).toMatch(/Cy.*\/accept Cy/);
  // Bea's copy was not held back; Cy's waits.
  await waitFor(() => bea.client.history(g.key).some((x) => x.body === 'second'), 10000, 'Bea reads it');
  expect(adam.store.groups.groupOutgoing(m.id)?.waiting).toEqual(['cy']);

  let thrown: unknown;
  try {
    adam.client.sendGroup(g.key, 'third');
  } catch (e) {
    thrown = e;
  }
  expect(isChatError(thrown, 'identity_changed')).toBe(true);
  expect((thrown as Error).message).toMatch(/blocked.*Cy.*\/verify Cy.*\/accept Cy/);

  // Accepted: unblocked; the message sealed for the old identity is given up for Cy alone.
  adam.client.acceptIdentity('Cy', adam.client.safetyNumber('Cy'));
  expect(adam.client.group(g.id)!.blockedBy).toEqual([]);
  expect(adam.store.groups.groupOutgoing(m.id)).toBeUndefined();
  adam.client.sendGroup(g.key, 'fourth');
  await waitFor(
    () => bea.client.history(g.key).some((x) => x.body === 'fourth'),
    10000,
    'Bea reads the fourth',
  );
});

it('a change made at once with an add reaches the new member too: all four agree', async () => {
  const [adam, bea, cy, dee] = [await user('Adam'), await user('Bea'), await user('Cy'), await user('Dee')];
  const g = adam.client.createGroup('Start', ['Bea', 'Cy']);
  for (const u of [bea, cy]) await waitFor(() => u.client.group(g.id)?.member === true, 10000, 'joined');
  adam.client.setGroupAdmin(g.key, 'Bea', true);
  for (const u of [adam, bea, cy]) {
    await waitFor(() => u.client.group(g.id)!.admins.includes('bea'), 10000, `${u.client.name}: Bea admin`);
  }
  // Adam renames while Bea adds Dee: Bea's state for Dee cannot hold Adam's rename.
  adam.client.renameGroup(g.key, 'Alpha');
  bea.client.addToGroup(g.key, ['Dee']);
  for (const u of [adam, bea, cy]) {
    await waitFor(
      () => count(u, 'renamed') === 1 && count(u, 'added') === 1,
      10000,
      `${u.client.name}: both`,
    );
  }
  await waitFor(() => dee.client.group(g.id)?.name === 'Alpha', 10000, 'Dee gets the rename');
  const v = view(adam.client.group(g.id)!);
  expect(v.members).toEqual(['adam', 'bea', 'cy', 'dee']);
  for (const u of [bea, cy, dee]) expect(view(u.client.group(g.id)!)).toEqual(v);
});

it('leaving the member with a changed identity out unblocks the group too', async () => {
  const { adam, bea, g } = await teamThenNewCy('adam');
  adam.client.sendGroup(g.key, 'second');
  await waitFor(() => adam.client.group(g.id)!.blockedBy.includes('cy'), 10000, 'the refusal');
  adam.client.removeFromGroup(g.key, ['Cy']);
  expect(adam.client.group(g.id)!.blockedBy).toEqual([]);
  adam.client.sendGroup(g.key, 'third');
  await waitFor(
    () => bea.client.history(g.key).some((x) => x.body === 'third'),
    10000,
    'Bea reads the third',
  );
  expect(bea.client.group(g.id)!.members).toEqual(['adam', 'bea']);
});

it('a pairwise group change refused for a changed identity waits for /accept, and then goes', async () => {
  // Bea writes once: her key goes to Cy over a pairwise session.
  const { adam, bea, cy, g } = await teamThenNewCy('bea');

  // Bea leaves: her change to Cy is sealed for the old identity and refused by the relay.
  bea.client.leaveGroup(g.key);
  await waitFor(() => bea.client.contactState('Cy') === 'changed', 10000, 'the refusal');
  await waitFor(() => adam.client.group(g.id)!.members.length === 2, 10000, 'Adam sees Bea leave');
  // Adam may apply the change before the relay's `sent` for it reaches Bea: once it has, only the
  // change for Cy waits.
  await waitFor(() => bea.client.outboxSize() === 1, 10000, 'only the change for Cy to wait');
  bea.client.acceptIdentity('Cy', bea.client.safetyNumber('Cy'));
  await waitFor(() => bea.client.outboxSize() === 0, 10000, 'the change goes to the new Cy');
  // The new Cy knows no such group yet: the change is kept for when its state comes.
  await waitFor(() => cy.store.groups.countEarlyChanges() === 1, 10000, 'Cy holds the change');
  expect(cy.errors).toEqual([]);
});
