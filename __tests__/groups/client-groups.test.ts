/**
 * Groups through the client core (issue 16): real `Client`s, each with its own SQLite store,
 * through a real relay on loopback. State, changes and sender keys travel pairwise; group
 * messages are sealed once and fanned out by `send.multi`.
 */
import { codeOf } from '../helpers/error-code';
import { relayPerTest, type TestUser } from '../helpers/client-harness';
import { waitFor } from '../helpers/relay-harness';

const t = relayPerTest();
const { user } = t;

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

it('a member who never wrote: typing reaches the group once her key has gone ahead', async () => {
  const [adam, bea] = [await user('Adam'), await user('Bea')];
  const typing: { peer: string; peerName: string; on: boolean }[] = [];
  adam.client.on('typing', (t) => typing.push(t));
  const g = adam.client.createGroup('Quiet', ['Bea']);
  await waitFor(() => bea.client.group(g.id)?.member === true, 10000, 'Bea to join');
  // Bea keeps typing (the client sends an `on` at most every few seconds) and never sends a text.
  await waitFor(
    () => {
      bea.client.setTyping(g.key, true);
      return typing.some((t) => t.peer === g.key && t.on && t.peerName === 'Bea');
    },
    20000,
    'Bea typing to reach Adam',
  );
  expect(adam.client.history(g.key)).toEqual([]);
});

it('names, permissions, rename, leave and typing through the facade', async () => {
  const [adam, bea, cy] = [await user('Adam'), await user('Bea'), await user('Cy')];
  const typing: { peer: string; peerName: string; on: boolean }[] = [];
  bea.client.on('typing', (t) => typing.push(t));
  const g = adam.client.createGroup('Book Club', ['Bea', 'Cy']);
  for (const u of [bea, cy]) await waitFor(() => u.client.group(g.id)?.member === true, 10000, 'joined');
  // Resolved by id, '#'+id, or name with or without '#', case-insensitively.
  for (const arg of [g.id, g.key, 'book club', '#BOOK CLUB']) expect(bea.client.group(arg)?.id).toBe(g.id);
  expect(bea.client.group('nope')).toBeUndefined();
  expect(codeOf(() => bea.client.sendGroup('nope', 'x'))).toBe('unknown_group');
  expect(codeOf(() => bea.client.renameGroup(g.key, 'Mine'))).toBe('not_admin');
  expect(codeOf(() => bea.client.addToGroup(g.key, ['Dee']))).toBe('not_admin');
  expect(codeOf(() => adam.client.addToGroup(g.key, ['Bea']))).toBe('bad_args');
  expect(codeOf(() => adam.client.createGroup('Solo', []))).toBe('bad_args');
  expect(codeOf(() => adam.client.sendGroup(g.key, ''))).toBe('bad_message');
  // Two groups of one name: the name alone is ambiguous.
  const twin = adam.client.createGroup('book club', ['Cy']);
  expect(codeOf(() => adam.client.group('Book Club'))).toBe('bad_name');
  expect(adam.client.group(twin.key)?.members).toEqual(['adam', 'cy']);
  expect(adam.client.groups().map((x) => x.id)).toEqual([g.id, twin.id]);
  // Groups are not contacts.
  adam.client.sendGroup(g.key, 'hello');
  await waitFor(() => bea.client.history(g.key).length === 1, 10000, 'hello');
  expect(bea.client.contacts().some((c) => c.canon.startsWith('#'))).toBe(false);
  expect(bea.client.group(g.id)?.unread).toBe(1);
  bea.client.markShown(g.key);
  expect(bea.client.group(g.id)?.unread).toBe(0);

  adam.client.renameGroup(g.key, 'Readers');
  await waitFor(() => bea.client.group(g.id)?.name === 'Readers', 10000, 'the rename');

  // Typing goes to the group (Cy has written, so her key reached Bea with her message).
  cy.client.sendGroup(g.key, 'hi all');
  await waitFor(() => bea.client.history(g.key).length === 2, 10000, 'Cy writes');
  cy.client.setTyping(g.key, true);
  await waitFor(() => typing.some((t) => t.peer === g.key && t.on), 10000, 'typing');
  expect(typing.find((t) => t.peer === g.key)?.peerName).toBe('Cy');

  // Cy leaves: the others see it and rotate; she can no longer write, and gets nothing more.
  cy.client.leaveGroup(g.key);
  expect(cy.client.group(g.id)?.member).toBe(false);
  expect(codeOf(() => cy.client.sendGroup(g.id, 'still here?'))).toBe('not_member');
  for (const u of [adam, bea]) {
    await waitFor(
      () => !u.client.group(g.id)!.members.includes('cy'),
      10000,
      `${u.client.name} sees Cy leave`,
    );
  }
  const m = adam.client.sendGroup(g.key, 'without Cy');
  await waitFor(() => bea.client.history(g.key).some((x) => x.id === m.id), 10000, 'Bea reads it');
  expect(adam.client.groupReceipts(g.key, m.id)?.to).toEqual(['bea']);
  adam.client.send('Cy', 'sentinel');
  await waitFor(() => cy.messages.some((x) => x.body === 'sentinel'), 10000, 'the sentinel');
  expect(cy.client.history(g.key).map((x) => x.body)).not.toContain('without Cy');
  expect(cy.errors).toEqual([]);
});

it('offline, a group text is stored and counted in the outbox; deleting it keeps it from leaving', async () => {
  const [adam, bea] = [await user('Adam'), await user('Bea')];
  const g = adam.client.createGroup('Pair', ['Bea']);
  await waitFor(() => bea.client.group(g.id)?.member === true, 10000, 'joined');
  await t.relay.stop();
  await waitFor(() => adam.client.connection.state !== 'online', 10000, 'Adam offline');
  // Bea may have joined before the relay's `sent` for her group state reached Adam: what was
  // waiting then is counted first, and nothing leaves while offline.
  const before = adam.client.outboxSize();
  const kept = adam.client.sendGroup(g.key, 'kept');
  const dropped = adam.client.sendGroup(g.key, 'deleted before it left');
  // Two group texts waiting, and the key distribution to Bea sealed with the first.
  expect(adam.client.outboxSize()).toBe(before + 3);
  expect(adam.client.deleteMessage(g.key, dropped.id)).toBe(true);
  expect(adam.client.outboxSize()).toBe(before + 2);
  expect(adam.client.history(g.key).map((m) => [m.body, m.state])).toEqual([['kept', 'sending']]);
  expect(kept.group).toBe(g.id);
});
