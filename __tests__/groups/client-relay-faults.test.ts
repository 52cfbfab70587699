/**
 * A member who forges, and a relay that drops, duplicates, reorders or relabels group envelopes
 * (issue 16). Real `Client`s through a real relay whose store the test holds: a misbehaving relay
 * is played through the store's public `pending`, `ack` and `enqueue` (what a relay operator can
 * do to the queues; a proxy cannot, the connection being Noise-encrypted). Envelopes are queued
 * while their recipient is away and delivered at its next login.
 */
import { encodeInnerMessage } from '../../lib/crypto/inner-message';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import {
  parseOwnSenderKey,
  parseSenderKeyRecord,
  sealGroupMessage,
  type OwnSenderKey,
} from '../../lib/crypto/sender-keys';
import type { QueuedEnvelope } from '../../lib/server/store';
import { relayPerTest, startRelayWithStore, type TestUser } from '../helpers/client-harness';
import { waitFor } from '../helpers/relay-harness';

const t = relayPerTest(() => startRelayWithStore());
const { stop } = t;
const user = (name: string, dir?: string) => t.user(name, dir ? { dir } : {});

const isGroupEnvelope = (e: QueuedEnvelope) => e.env[0] === 0x47;

async function group(all: TestUser[]): Promise<{ id: string; key: string }> {
  const info = all[0].client.createGroup(
    'Team',
    all.slice(1).map((u) => u.client.name),
  );
  for (const u of all.slice(1)) {
    await waitFor(() => u.client.group(info.id)?.member === true, 10000, `${u.client.name} to join`);
  }
  // One message each, so that every member holds every sender key and every session exists.
  for (const u of all) u.client.sendGroup(info.key, `hello from ${u.client.name}`);
  for (const u of all) {
    await waitFor(() => u.client.history(info.key).length === all.length, 10000, `${u.client.name} hello`);
  }
  return info;
}

async function allTaken(u: TestUser): Promise<void> {
  await waitFor(
    () => u.store.groups.pendingGroupOutgoing().length === 0 && u.client.outboxSize() === 0,
    10000,
    `${u.client.name}'s outboxes to empty`,
  );
}

async function inject(to: string, from: string, env: Uint8Array): Promise<void> {
  await t.relay.store.enqueue({ id: toHex(randomBytes(16)), to, from, env, ts: Date.now() });
}

/** Brings `u` back and waits for a pairwise sentinel from `from`, sent after everything queued. */
async function backAndSettled(name: string, dir: string, from: TestUser): Promise<TestUser> {
  const u = await user(name, dir);
  const tag = `sentinel ${toHex(randomBytes(4))}`;
  from.client.send(name, tag);
  await waitFor(() => u.messages.some((m) => m.body === tag), 10000, `${name} to get the sentinel`);
  return u;
}

it('a member forging a message as another is refused (signature), and the real one still reads', async () => {
  const [adam, bea, cy] = [await user('Adam'), await user('Bea'), await user('Cy')];
  const g = await group([adam, bea, cy]);
  // Bea holds Adam's chain (every member does) but not his signing key: she seals Adam's next
  // message with his chain and signs it with her own key.
  const adamChain = parseSenderKeyRecord(bea.store.groups.peerKey(g.id, 'adam')!).states[0];
  const beaOwn = parseOwnSenderKey(bea.store.groups.group(g.id)!.ownKey!);
  const forger: OwnSenderKey = {
    kind: 'own',
    groupId: adamChain.groupId,
    keyId: adamChain.keyId,
    iteration: adamChain.iteration,
    chainKey: adamChain.chainKey,
    signing: beaOwn.signing,
  };
  const inner = encodeInnerMessage({
    kind: 'text',
    id: toHex(randomBytes(16)),
    ts: Date.now(),
    body: 'forged',
  });
  const { message: forged } = await sealGroupMessage(forger, inner, () => undefined);

  const cyDir = cy.dir;
  await stop(cy);
  // A relay that helps her says it came from Adam; without its help it comes from Bea.
  await inject('cy', 'Adam', forged);
  await inject('cy', 'Bea', forged);
  // Adam's real message at that same iteration.
  adam.client.sendGroup(g.key, 'the real one');
  await allTaken(adam);
  const cy2 = await backAndSettled('Cy', cyDir, adam);
  await waitFor(() => cy2.client.history(g.key).length === 4, 10000, 'the real one');
  const bodies = cy2.client.history(g.key).map((m) => m.body);
  expect(bodies).toContain('the real one');
  expect(bodies).not.toContain('forged');
  expect(cy2.errors.map((e) => e.code)).toEqual(['decrypt_failed', 'no_session']);
  expect(cy2.errors.every((e) => (e as { peer?: string }).peer === g.key)).toBe(true);
});

it('a relay that duplicates, reorders, drops or relabels group envelopes is harmless or detected', async () => {
  const [adam, bea, cy] = [await user('Adam'), await user('Bea'), await user('Cy')];
  const g = await group([adam, bea, cy]);
  const cyDir = cy.dir;
  await stop(cy);
  const sent = ['one', 'two', 'three', 'four', 'five'].map((t) => adam.client.sendGroup(g.key, t));
  await allTaken(adam);
  const queued = (await t.relay.store.pending('cy')).filter(isGroupEnvelope);
  expect(queued).toHaveLength(5);
  // The relay takes them all back and queues: three and two swapped (reorder), four dropped, five
  // twice (duplicate), and one again under Bea's name and under Dee's (relabel).
  for (const e of queued) await t.relay.store.ack('cy', e.id);
  const [one, two, three, , five] = queued.map((e) => e.env);
  for (const env of [one, three, two, five, five]) await inject('cy', 'Adam', env);
  await inject('cy', 'Bea', one);
  await inject('cy', 'Dee', one);

  const cy2 = await backAndSettled('Cy', cyDir, adam);
  const bodies = cy2.client
    .history(g.key)
    .map((m) => m.body)
    .filter((b) => !b.startsWith('hello'));
  // Reordered: both read (in arrival order). Duplicate: shown once. Dropped: not shown.
  expect(bodies).toEqual(['one', 'three', 'two', 'five']);
  // Relabelled: no chain of that key id under the other names; reported, not shown.
  expect(cy2.errors.map((e) => e.code)).toEqual(['no_session', 'not_member']);

  // The drop is visible to the sender: Cy's delivered receipt is missing for that one message.
  await waitFor(
    () => adam.client.groupReceipts(g.key, sent[4].id)?.delivered.includes('cy') === true,
    10000,
    'five delivered to Cy',
  );
  await waitFor(
    () => adam.client.groupReceipts(g.key, sent[3].id)?.delivered.includes('bea') === true,
    10000,
    'four delivered to Bea',
  );
  expect(adam.client.groupReceipts(g.key, sent[3].id)).toEqual({
    to: ['bea', 'cy'],
    delivered: ['bea'],
    read: [],
  });
  for (const m of [sent[0], sent[1], sent[2]]) {
    expect(adam.client.groupReceipts(g.key, m.id)?.delivered.slice().sort()).toEqual(['bea', 'cy']);
  }
});

it('a new member whose message overtakes the change that adds it is read once that change comes', async () => {
  const [adam, bea, cy, dee] = [await user('Adam'), await user('Bea'), await user('Cy'), await user('Dee')];
  const g = await group([adam, bea, cy]);
  const cyDir = cy.dir;
  await stop(cy);
  adam.client.addToGroup(g.key, ['Dee']);
  await waitFor(() => dee.client.group(g.id)?.member === true, 10000, 'Dee joins');
  dee.client.sendGroup(g.key, 'Dee says hi');
  await allTaken(dee);
  await allTaken(adam);
  // The relay delivers Adam's change last: Dee's key and message overtake it.
  const queued = await t.relay.store.pending('cy');
  const fromDee = queued.filter((e) => e.from === 'Dee');
  const rest = queued.filter((e) => e.from !== 'Dee');
  expect(fromDee.map((e) => e.env[0] === 0x47)).toEqual([false, true]);
  for (const e of queued) await t.relay.store.ack('cy', e.id);
  for (const e of [...fromDee, ...rest]) await inject('cy', e.from, e.env);
  const cy2 = await backAndSettled('Cy', cyDir, adam);
  await waitFor(() => cy2.client.history(g.key).some((m) => m.body === 'Dee says hi'), 10000, 'the held one');
  expect(cy2.client.group(g.id)?.members).toEqual(['adam', 'bea', 'cy', 'dee']);
  expect(cy2.errors).toEqual([]);
});
