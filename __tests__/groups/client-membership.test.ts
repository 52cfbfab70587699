/**
 * Membership changes rotate sender keys (issue 16): real `Client`s through a real relay whose
 * store the test holds. The test reads what the relay queued for a member through the store's
 * public `pending`, and plays a relay that hands a member envelopes meant for others by queueing
 * them with the store's public `enqueue` (the seam a misbehaving relay has: it can deliver any
 * bytes under any sender name, never forge what they decrypt to).
 */
import { openGroupMessage, parseGroupMessage, parseSenderKeyRecord } from '../../lib/crypto/sender-keys';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import type { QueuedEnvelope } from '../../lib/server/store';
import { codeOf } from '../helpers/error-code';
import { relayPerTest, startRelayWithStore, type TestUser } from '../helpers/client-harness';
import { waitFor } from '../helpers/relay-harness';

const t = relayPerTest(() => startRelayWithStore());
const { stop } = t;
const user = (name: string, dir?: string) => t.user(name, dir ? { dir } : {});

const isGroupEnvelope = (e: QueuedEnvelope) => e.env[0] === 0x47;

/** A group of all `names`, made by the first; resolves once every member has joined. */
async function group(all: TestUser[], name = 'Team'): Promise<{ id: string; key: string }> {
  const info = all[0].client.createGroup(
    name,
    all.slice(1).map((u) => u.client.name),
  );
  for (const u of all.slice(1)) {
    await waitFor(() => u.client.group(info.id)?.member === true, 10000, `${u.client.name} to join`);
  }
  return info;
}

async function roundOfTexts(all: TestUser[], key: string, tag: string): Promise<void> {
  const before = all.map((u) => u.client.history(key).length);
  for (const u of all) u.client.sendGroup(key, `${u.client.name} ${tag}`);
  await Promise.all(
    all.map((u, i) =>
      waitFor(
        () => u.client.history(key).length === before[i] + all.length,
        20000,
        `${u.client.name} to have round ${tag}`,
      ),
    ),
  );
}

/** Every group message the user sealed has been taken by the relay for every recipient. */
async function allTaken(u: TestUser): Promise<void> {
  await waitFor(
    () => u.store.groups.pendingGroupOutgoing().length === 0 && u.client.outboxSize() === 0,
    10000,
    `${u.client.name}'s outboxes to empty`,
  );
}

it('a removed member gets nothing readable after the removal, even given every envelope the others get', async () => {
  const all: TestUser[] = [];
  for (const n of ['Adam', 'Bea', 'Cy', 'Dee', 'Eve']) all.push(await user(n));
  const [adam, bea, cy, dee, eve] = all;
  const g = await group(all);
  await roundOfTexts(all, g.key, 'before');
  // What Eve holds before the removal: every other member's sender key record.
  const held = new Map(
    ['adam', 'bea', 'cy', 'dee'].map((m) => [m, eve.store.groups.peerKey(g.id, m)!] as const),
  );
  expect([...held.values()].every((r) => r !== undefined)).toBe(true);
  const eveDir = eve.dir;
  await stop(eve);

  adam.client.removeFromGroup(g.key, ['Eve']);
  for (const u of [adam, bea, cy, dee]) {
    await waitFor(() => !u.client.group(g.id)!.members.includes('eve'), 10000, `${u.client.name} applies`);
  }
  // Dee goes offline too: what the relay queues for her is every group envelope sent after this.
  await stop(dee);
  const remaining = [adam, bea, cy];
  for (const u of remaining) u.client.sendGroup(g.key, `${u.client.name} after`);
  await Promise.all(
    remaining.map((u) =>
      waitFor(() => u.client.history(g.key).length === 5 + 3, 20000, `${u.client.name} has the later texts`),
    ),
  );
  for (const u of remaining) await allTaken(u);

  const forDee = (await t.relay.store.pending('dee')).filter(isGroupEnvelope);
  const forEve = (await t.relay.store.pending('eve')).filter(isGroupEnvelope);
  expect(forDee).toHaveLength(3);
  // Nobody sealed a group message for Eve after her removal.
  expect(forEve).toHaveLength(0);

  // With the records she held, none of them opens: the chains were replaced (no_session).
  for (const e of forDee) {
    const record = parseSenderKeyRecord(held.get(e.from.toLowerCase())!);
    expect(codeOf(() => openGroupMessage(record, parseGroupMessage(e.env), Date.now()))).toBe('no_session');
  }

  // A relay hands Eve's client every one of them, then a pairwise sentinel from Adam.
  for (const e of forDee) {
    await t.relay.store.enqueue({
      id: toHex(randomBytes(16)),
      to: 'eve',
      from: e.from,
      env: e.env,
      ts: e.ts,
    });
  }
  const eve2 = await user('Eve', eveDir);
  adam.client.send('Eve', 'sentinel');
  await waitFor(() => eve2.messages.some((m) => m.body === 'sentinel'), 10000, 'the sentinel');
  const info = eve2.client.group(g.id)!;
  expect(info.member).toBe(false);
  expect(info.members).not.toContain('eve');
  expect(eve2.client.history(g.key).map((m) => m.body)).not.toEqual(
    expect.arrayContaining([expect.stringMatching(/after/)]),
  );
  expect(eve2.client.history(g.key)).toHaveLength(5);
  expect((eve2.events.group ?? []).map((e) => e.what)).toContain('removed-me');
  // Each injected envelope was reported, none shown.
  expect(eve2.errors.filter((e) => e.code === 'no_session')).toHaveLength(3);
  // And she holds no sender key of the group any more.
  expect(eve2.store.groups.peerKeyHolders(g.id)).toEqual([]);
});

it('a new member reads nothing from before it joined, and everything after', async () => {
  const all: TestUser[] = [];
  for (const n of ['Adam', 'Bea', 'Cy']) all.push(await user(n));
  const [adam, bea, cy] = all;
  const dee = await user('Dee');
  const g = await group(all);
  // Cy offline: her queue holds the envelopes sent before Dee joins.
  const cyDir = cy.dir;
  await stop(cy);
  for (const u of [adam, bea]) u.client.sendGroup(g.key, `${u.client.name} before Dee`);
  for (const u of [adam, bea]) await allTaken(u);
  const old = (await t.relay.store.pending('cy')).filter(isGroupEnvelope);
  expect(old).toHaveLength(2);

  adam.client.addToGroup(g.key, ['Dee']);
  await waitFor(() => dee.client.group(g.id)?.member === true, 10000, 'Dee joins');
  expect(dee.client.group(g.id)!.members).toEqual(['adam', 'bea', 'cy', 'dee']);
  // Sender keys go out before each member's next message: Dee gets Adam's and Bea's with it.
  for (const u of [adam, bea]) u.client.sendGroup(g.key, `${u.client.name} with Dee`);
  await waitFor(() => dee.client.history(g.key).length === 2, 10000, 'Dee reads what follows');
  expect(
    dee.client
      .history(g.key)
      .map((m) => m.body)
      .sort(),
  ).toEqual(['Adam with Dee', 'Bea with Dee']);
  // The keys Dee got start where the chains were then: the earlier envelopes do not open.
  for (const e of old) {
    const record = parseSenderKeyRecord(dee.store.groups.peerKey(g.id, e.from.toLowerCase())!);
    expect(codeOf(() => openGroupMessage(record, parseGroupMessage(e.env), Date.now()))).toBe(
      'duplicate_message',
    );
  }
  // A relay hands them to Dee's client (queued while she is away, delivered at her next login):
  // reported, not shown.
  const deeDir = dee.dir;
  await stop(dee);
  for (const e of old) {
    await t.relay.store.enqueue({
      id: toHex(randomBytes(16)),
      to: 'dee',
      from: e.from,
      env: e.env,
      ts: e.ts,
    });
  }
  const dee2 = await user('Dee', deeDir);
  adam.client.send('Dee', 'sentinel');
  await waitFor(() => dee2.messages.some((m) => m.body === 'sentinel'), 10000, 'the sentinel');
  expect(dee2.client.history(g.key)).toHaveLength(2);
  expect(dee2.errors.map((e) => e.code)).toEqual(['message_expired', 'message_expired']);

  // Cy, back, reads all four, and Dee's messages too once she writes.
  const cy2 = await user('Cy', cyDir);
  dee2.client.sendGroup(g.key, 'Dee here');
  await waitFor(() => cy2.client.history(g.key).length === 5, 10000, 'Cy reads everything');
  expect(cy2.errors).toEqual([]);
});
