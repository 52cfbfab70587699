/**
 * Issue 16 in the line mode, with the real binaries: a relay process and three clients
 * (`--plain`, one of them `--json`) through pipes. Adam makes a group of three, everyone writes
 * to it with `#team:` or `/msg #team`, the lines read `[#team] Adam: text`, Adam sees the
 * receipt counts, /group members lists admins, and a rename and a removal reach the others.
 */
import * as fs from 'node:fs';
import { makeUser } from '../helpers/client-harness';
import * as harness from '../helpers/relay-harness';

type LineModeProcess = harness.LineModeProcess;
const { waitFor } = harness;

jest.setTimeout(120000);

let dataDir: string;
let relay: harness.RelayProcess;
const procs: LineModeProcess[] = [];

beforeAll(async () => {
  dataDir = harness.tempDir('chatsecure-groups-line-');
  relay = await harness.startRelayProcess(dataDir);
});

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill();
  await relay?.stop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** A client in the line mode, trusting the test relay's key. */
function start(name: string, extra: string[] = []): LineModeProcess {
  const p = harness.startLineMode(relay.port, name, dataDir, [
    '--server-fingerprint',
    relay.fingerprint,
    ...extra,
  ]);
  procs.push(p);
  return p;
}

const T = 30000;
const line = (re: RegExp) => (p: LineModeProcess) => re.test(p.out());
const jsonEvents = (p: LineModeProcess): Record<string, unknown>[] =>
  p
    .out()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

it('a group of three in the line mode and --json: commands, lines, events, receipts', async () => {
  const until = (p: LineModeProcess, re: RegExp, what: string) => waitFor(() => line(re)(p), T, what);
  try {
    const adam = start('Adam');
    const bob = start('Bob');
    const eve = start('Eve', ['--json']);
    await until(adam, /^\* connected/m, 'Adam connected');
    await until(bob, /^\* connected/m, 'Bob connected');
    await waitFor(
      () => jsonEvents(eve).some((e) => e.event === 'state' && e.state === 'online'),
      T,
      'Eve online',
    );

    // A usage error is a sentence; nothing is made.
    adam.child.stdin.write('/group create team\n');
    await until(adam, /^! \/group create needs its members after the group's name/m, 'the usage error');

    adam.child.stdin.write('/group create team Bob Eve\n');
    await until(adam, /^\* (Created|You created the group) #team with Bob and Eve$/im, 'the group made');
    await until(bob, /^\* Adam added you to the group #team/m, 'Bob told');
    await waitFor(
      () => jsonEvents(eve).some((e) => e.event === 'group' && e.what === 'joined' && e.name === 'team'),
      T,
      'Eve told, as JSON',
    );

    adam.child.stdin.write('#team: hello team\n');
    await until(bob, /^\[\d\d:\d\d:\d\d\] \[#team\] Adam: hello team$/m, 'Bob to read it');
    await waitFor(
      () =>
        jsonEvents(eve).some(
          (e) =>
            e.event === 'message' &&
            e.body === 'hello team' &&
            e.sender === 'Adam' &&
            typeof e.group === 'string',
        ),
      T,
      'Eve to read it, as JSON',
    );
    // Both printed it, so both sent read receipts: Adam sees the counts.
    await until(
      adam,
      /^\* your message to #team: delivered to 2 of 2, read by 2 \[[0-9a-f]{8}\]$/m,
      'the counts',
    );

    eve.child.stdin.write('/msg #team hi from Eve\n');
    await until(adam, /^\[\d\d:\d\d:\d\d\] \[#team\] Eve: hi from Eve$/m, 'Adam to read Eve');
    await until(bob, /^\[\d\d:\d\d:\d\d\] \[#team\] Eve: hi from Eve$/m, 'Bob to read Eve');
    const sending = jsonEvents(eve).find((e) => e.event === 'sending' && e.body === 'hi from Eve');
    expect(sending).toMatchObject({ direction: 'out' });
    expect(String(sending?.peer)).toMatch(/^#[0-9a-f]{32}$/);

    // --json takes the same commands and answers with a result.
    eve.child.stdin.write('/group members team\n');
    await waitFor(
      () => jsonEvents(eve).some((e) => e.event === 'result' && typeof e.group === 'object'),
      T,
      "Eve's /group members, as JSON",
    );
    const members = jsonEvents(eve).find((e) => e.event === 'result' && typeof e.group === 'object');
    expect(members?.group).toMatchObject({ name: 'team', members: ['adam', 'bob', 'eve'], admins: ['adam'] });
    eve.child.stdin.write('/group create\n');
    await waitFor(
      () =>
        jsonEvents(eve).some((e) => e.event === 'result' && String(e.error).startsWith('say which group')),
      T,
      'the usage error, as JSON',
    );

    bob.child.stdin.write('/group members team\n');
    await until(bob, /^#team: 3 members$/m, 'the members heading');
    await until(bob, /^ {2}Adam +admin$/im, 'Adam marked admin');
    await until(bob, /^ {2}Bob +you$/im, 'Bob marked you');
    await until(bob, /^ {2}Eve$/im, 'Eve');

    // Only an admin changes the group: Bob's rename is refused in a sentence.
    bob.child.stdin.write('/group rename team crew\n');
    await until(bob, /^! .*admin/m, 'the refusal');
    adam.child.stdin.write('/group rename team crew\n');
    await until(bob, /^\* Adam renamed #team to #crew$/m, 'the rename');
    eve.child.stdin.write('#crew: under the new name\n');
    await until(bob, /\[#crew\] Eve: under the new name$/m, 'the new name in the lines');

    adam.child.stdin.write('/group remove crew Eve\n');
    await until(adam, /^\* (Removed|You removed) Eve from #crew$/im, 'the removal');
    await until(bob, /^\* Adam removed Eve from #crew$/im, 'Bob told of the removal');
    await waitFor(
      () => jsonEvents(eve).some((e) => e.event === 'group' && e.what === 'removed-me'),
      T,
      'Eve told she was removed',
    );
    bob.child.stdin.write('/groups\n');
    await until(bob, /^ {2}#crew +2 members$/m, '/groups');
    bob.child.stdin.write('/group leave crew\n');
    await until(bob, /^\* You left #crew; its history stays readable$/m, 'Bob left');
    await until(adam, /^\* Bob left #crew$/im, 'Adam told');
    bob.child.stdin.write('#crew: still here?\n');
    await until(
      bob,
      /^! (you are in no group called crew|.*no longer a member)/m,
      'no sending after leaving',
    );

    for (const p of [adam, bob, eve]) p.child.stdin.end('/exit\n');
    for (const p of [adam, bob, eve]) expect(await p.exit).toBe(0);
    // Nothing a peer sent acted on a terminal: no ESC anywhere in the plain outputs.
    for (const p of [adam, bob]) expect(p.out()).not.toContain('\x1b');
  } catch (err) {
    for (const p of procs) process.stderr.write(`--- client output ---\n${p.out()}\n`);
    throw err;
  }
});

it('prints at start the group messages stored but never shown by an earlier run', async () => {
  const ida = start('Ida');
  await waitFor(() => ida.out().includes('* connected'), T, 'Ida connected');
  ida.child.stdin.end('/exit\n');
  expect(await ida.exit).toBe(0);

  // Ida's store takes the group and a message while no view shows them: a Client object stands
  // in for the moment between storing and printing (the line mode would have printed at once).
  const jon = await makeUser(relay.port, 'Jon');
  const idaStore = await makeUser(relay.port, 'Ida', { dir: `${dataDir}/users/ida` });
  let again: LineModeProcess;
  try {
    const g = jon.client.createGroup('club', ['Ida']);
    try {
      await waitFor(() => idaStore.client.group(g.id) !== undefined, T, 'Ida in the group');
      jon.client.sendGroup(g.key, 'stored while you were away');
      await waitFor(() => idaStore.client.history(g.key).length === 1, T, "Ida's store to hold it");
    } finally {
      await idaStore.stop();
    }
    again = start('Ida');
    await waitFor(
      () => /^\[\d\d:\d\d:\d\d\] \[#club\] Jon: stored while you were away$/m.test(again.out()),
      T,
      'the unshown group message',
    );
    // A member typing in the group: named, with the group.
    await waitFor(() => again.out().includes('* connected'), T, 'Ida connected');
    jon.client.setTyping(g.key, true);
    await waitFor(() => again.out().includes('* Jon is typing in #club...'), T, 'the typing notice');
  } finally {
    await jon.stop();
  }
  again.child.stdin.end('/exit\n');
  expect(await again.exit).toBe(0);
  expect(again.out().match(/stored while you were away/g)).toHaveLength(1);
});
