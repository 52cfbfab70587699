/**
 * Issue 16 in a real terminal: the built binary's full screen in a tmux pane, against a real
 * relay process, with TERM=tmux-256color and TERM=xterm-256color. Its user makes a group of
 * three with a line-mode process and a Client; writes in the group's conversation and with
 * `#team:`; the line mode shows `[#team] Name: text`; a message from the third member shows in
 * the sidebar as the group's unread count; our own message shows the receipt counts. Needs
 * `npm run build` and tmux.
 */
import * as path from 'node:path';
import { makeUser, type TestUser } from '../helpers/client-harness';
import { startLineMode, waitFor, type LineModeProcess } from '../helpers/relay-harness';
import { tmuxDriver, tmuxRelaySuite } from './tmux-driver';

jest.setTimeout(120000);

const SOCKET = `chatsecure-groups-${process.pid}`;
const ROOT = path.join(__dirname, '..', '..');

const driver = tmuxDriver(SOCKET, 30000);
const { tmux, waitForPane } = driver;

const has = (t: string | RegExp) => (s: string) => (typeof t === 'string' ? s.includes(t) : t.test(s));

const procs: LineModeProcess[] = [];
const suite = tmuxRelaySuite(driver, {
  root: ROOT,
  prefix: 'chatsecure-groups-tmux-',
  atEnd: () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill();
  },
});

describe.each(['tmux-256color', 'xterm-256color'])('TERM=%s', (term) => {
  const me = term.startsWith('tmux') ? 'Tina' : 'Xena';
  const bobName = `${me}Bob`;
  const eveName = `${me}Eve`;
  let bob: LineModeProcess;
  let eve: TestUser;
  const type = (text: string) => {
    tmux('send-keys', '-t', me, '-l', text);
    tmux('send-keys', '-t', me, 'Enter');
  };

  beforeAll(async () => {
    eve = await makeUser(suite.relay.port, eveName);
    suite.users.push(eve);
    bob = startLineMode(suite.relay.port, bobName, path.join(suite.dir, bobName), [
      '--server-fingerprint',
      suite.relay.fingerprint,
    ]);
    procs.push(bob);
    await waitFor(() => bob.out().includes('* connected'), 30000, `${bobName} connected`);
    await suite.firstRun(me, term);
  });

  afterAll(async () => {
    if (bob.child.exitCode === null) {
      bob.child.stdin.end('/exit\n');
      await bob.exit;
    }
  });

  test('a group of three: made, written to both ways, read in line mode, unread in the sidebar', async () => {
    type(`/group create team ${bobName} ${eveName}`);
    // The new group's conversation opens; its row is marked '#'.
    await waitForPane(me, has(/\d # team/), 'the sidebar row');
    await waitForPane(me, has('#team: group of 3, encrypted'), 'the status line');
    await waitFor(() => bob.out().includes(`* ${me} added you to the group #team`), 30000, 'Bob told');

    type('hello from the conversation');
    await waitFor(
      () =>
        new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\] \\[#team\\] ${me}: hello from the conversation$`, 'm').test(
          bob.out(),
        ),
      30000,
      'Bob to read the first',
    );
    // Bob printed it (a read receipt); Eve's client stored it (delivered): the counts show.
    await waitForPane(me, has(/hello from the conversation +delivered to 2 of 2, read by 1/), 'the counts');

    // Another conversation open, then `#team:` from there.
    type(`/history ${bobName}`);
    await waitForPane(me, has(`│ ${bobName}: `), "Bob's conversation open");
    type('#team: hello by name');
    await waitFor(
      () => new RegExp(`\\[#team\\] ${me}: hello by name$`, 'm').test(bob.out()),
      30000,
      'Bob to read the second',
    );

    // Sending to a group opens it, as `NAME: text` opens NAME's conversation.
    await waitForPane(me, has('│ #team: group of 3'), 'the group open again');
    // Away from the group: Eve's message is the group's unread count.
    type(`/history ${bobName}`);
    await waitForPane(me, has(`│ ${bobName}: `), "Bob's conversation open again");
    eve.client.sendGroup('team', 'a word from Eve');
    const row = await waitForPane(me, has(/(\d) # team +1\b/), "the group's unread count");
    const n = (/(\d) # team +1\b/.exec(row) as RegExpExecArray)[1];
    tmux('send-keys', '-t', me, `M-${n}`);
    await waitForPane(me, has(`${eveName}: a word from Eve`), "Eve's message, with her name");
    await waitFor(
      () => new RegExp(`\\[#team\\] ${eveName}: a word from Eve$`, 'm').test(bob.out()),
      30000,
      'Bob to read Eve',
    );
  });
});
