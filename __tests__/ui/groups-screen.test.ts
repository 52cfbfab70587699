/**
 * Issue 16 in the full screen on a terminal emulator (@xterm/headless over fake TTY streams),
 * with real Clients through a real relay on loopback: a group made from the screen, the members
 * dialog, a member typing in the group, a group event as a notice, and a member whose identity
 * changed: the group's row and status line say sending is blocked, the notice names the member
 * and the fix, the line stays in the input; after /verify and /accept sending works again.
 */
import * as fs from 'node:fs';
import type { RelayStore } from '../../lib/server/store';
import { makeUser, startRelayWithStore, type TestUser } from '../helpers/client-harness';
import { waitFor, type TestRelay } from '../helpers/relay-harness';
import { runScreen } from '../../lib/ui/screen/run-screen';
import { FakeTerminal, KEY } from './fake-terminal';

jest.setTimeout(60000);

let relay: TestRelay & { store: RelayStore };
const users: TestUser[] = [];

beforeAll(async () => {
  relay = await startRelayWithStore({ limits: { keysFetchPerMinute: 1000 } });
});

afterAll(async () => {
  for (const u of users) await u.stop().catch(() => undefined);
  await relay.stop();
  fs.rmSync(relay.dir, { recursive: true, force: true });
  for (const u of users) fs.rmSync(u.dir, { recursive: true, force: true });
});

test('a group in the full screen: made, members, typing, events, blocked by a changed identity', async () => {
  const adam = await makeUser(relay.port, 'Adam', { start: false, client: { acceptNewServer: true } });
  users.push(adam);
  const bea = await makeUser(relay.port, 'Bea');
  users.push(bea);
  let cy = await makeUser(relay.port, 'Cy');
  users.push(cy);
  // Tall enough for the whole F1 help without scrolling.
  const t = new FakeTerminal(100, 90);
  const done = runScreen(adam.client, { bell: false, readReceipts: true, input: t.input, output: t.output });
  const line = (text: string) => {
    t.type(text);
    t.type(KEY.enter);
  };
  try {
    await t.waitForText('│ online │');

    // A usage error is a sentence, and the line stays to be fixed.
    line('/group add crew');
    await t.waitForText("/group add needs who to add after the group's name");
    expect(t.lines().some((l) => l.startsWith('> /group add crew'))).toBe(true);
    t.type(KEY.ctrlU);

    line('/group create crew Bea Cy');
    await t.waitForText(/\d # crew/);
    await t.waitForText('#crew: group of 3, encrypted');
    await waitFor(() => bea.client.group('crew') !== undefined, 15000, 'Bea in the group');
    await waitFor(() => cy.client.group('crew') !== undefined, 15000, 'Cy in the group');
    const key = (adam.client.group('crew') as { key: string }).key;

    // F1 lists the group commands with the others.
    t.type(KEY.f1);
    await t.waitForText('─ Help ─');
    await t.waitForText('/group create NAME USER...');
    expect(t.text()).toContain('/group members NAME');
    t.type('q');
    await t.waitFor((s) => !s.includes('─ Help ─'), 'the help to close');

    line('/group members crew');
    await t.waitForText('Members of #crew');
    const dialog = t.text();
    expect(dialog).toMatch(/Adam +you, admin/i);
    expect(dialog).toMatch(/Bea\s*│/);
    t.type('q');
    await t.waitFor((s) => !s.includes('Members of #crew'), 'the dialog to close');

    // A name someone else's client gave is shown as it is, never read as markup.
    bea.client.createGroup('{red-fg}x', ['Adam']);
    await t.waitForText(/4 # \{red-fg\}x /);
    line('/group members {red-fg}x');
    await t.waitForText('Members of #{red-fg}x');
    t.type('q');
    await t.waitFor((s) => !s.includes('Members of #'), 'the dialog to close');
    t.type(KEY.alt('1'));
    await t.waitForText('#crew: group of 3, encrypted');

    // A member's message names her; her typing shows in the group's conversation, by name.
    bea.client.sendGroup(key, 'hello crew');
    await t.waitForText(/\d\d:\d\d Bea: hello crew/);
    bea.client.setTyping(key, true);
    await t.waitForText('Bea is typing…');

    // A group event from someone else is a notice.
    line('/group admin crew Bea');
    await t.waitForText('Bea is now an admin of #crew');
    await waitFor(() => bea.client.group(key)?.admins.includes('bea') === true, 15000, 'Bea an admin');
    bea.client.renameGroup(key, 'crew2');
    await t.waitForText('Bea renamed #crew to #crew2');
    await t.waitForText(/\d # crew2/);

    // Someone new writes: a new row at the end, the group keeps its Alt+N number.
    const dan = await makeUser(relay.port, 'Dan');
    users.push(dan);
    dan.client.send('Adam', 'hi Adam');
    await t.waitForText(/5 ● Dan +1/);
    expect(t.lines().some((l) => /│1 # crew2 /.test(l))).toBe(true);
    t.type(KEY.alt('1'));
    await t.waitForText('#crew2: group of 3, encrypted');

    // Cy comes back with a new identity: the next message finds out, and sending is blocked.
    await cy.stop();
    users.splice(users.indexOf(cy), 1);
    await relay.store.freeName('cy');
    cy = await makeUser(relay.port, 'Cy');
    users.push(cy);
    line('are you all there?');
    // The contact's own warning (issue 11) comes first, as a dialog.
    await t.waitForText('Safety number changed: Cy');
    t.type('c');
    await t.waitFor((s) => !s.includes('Safety number changed: Cy'), 'the warning to close');
    await t.waitForText('#crew2: SAFETY NUMBER CHANGED (Cy), sending blocked');
    await t.waitForText(/\d # crew2 +!/);
    line('one more');
    await t.waitForText(/blocked.*Cy/);
    // The line that could not be sent is kept.
    await t.waitFor((s) => s.split('\n').some((l) => l.startsWith('> one more')), 'the kept line');
    t.type(KEY.ctrlU);

    line('/verify Cy');
    await t.waitForText('Safety number: Cy');
    t.type('q');
    await t.waitFor((s) => !s.includes('Safety number: Cy'), 'the dialog to close');
    line('/accept Cy');
    await t.waitForText('#crew2: group of 3, encrypted');
    line('after the accept');
    await waitFor(
      () => bea.client.history(key).some((m) => m.body === 'after the accept'),
      15000,
      'Bea reads it',
    );
  } catch (err) {
    process.stderr.write(`--- screen ---\n${t.text()}\n`);
    throw err;
  } finally {
    // A dialog left open by a failure takes 'q' first.
    t.type('q');
    await t.settle();
    t.type(KEY.f10);
    await done;
    t.dispose();
  }
});
