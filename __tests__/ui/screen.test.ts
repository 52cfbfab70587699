/**
 * The full-screen UI on a real terminal emulator: blessed writes to fake TTY streams that feed
 * @xterm/headless, over real Clients talking to a real relay on loopback. Every assertion is on
 * what the emulator's screen shows (or, for the bell and the restore, on the bytes written).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeUser, type TestUser } from '../helpers/client-harness';
import { startRelay, waitFor, type TestRelay } from '../helpers/relay-harness';
import { askPassphraseDialog } from '../../lib/ui/screen/passphrase-prompt';
import { runScreen } from '../../lib/ui/screen/run-screen';
import { FakeTerminal, KEY } from './fake-terminal';

jest.setTimeout(30000);

interface OpenScreen {
  t: FakeTerminal;
  user: TestUser;
  done: Promise<number>;
}

let relay: TestRelay;
const opened: OpenScreen[] = [];
const users: TestUser[] = [];

async function screenFor(
  name: string,
  opts: { bell?: boolean; acceptNewServer?: boolean; port?: number } = {},
): Promise<OpenScreen> {
  const user = await makeUser(opts.port ?? relay.port, name, {
    start: false,
    client: { acceptNewServer: opts.acceptNewServer ?? true },
  });
  users.push(user);
  const t = new FakeTerminal(100, 30);
  const done = runScreen(user.client, {
    bell: opts.bell ?? true,
    readReceipts: true,
    input: t.input,
    output: t.output,
  });
  const s = { t, user, done };
  opened.push(s);
  return s;
}

async function quit(s: OpenScreen): Promise<number> {
  s.t.type(KEY.f10);
  return s.done;
}

/** BEL characters written, not counting those that end an OSC sequence (the window title). */
function bells(written: string): number {
  // eslint-disable-next-line no-control-regex -- the bytes a terminal receives are the point here
  return written.replace(/\x1b\][^\x07]*\x07/g, '').split('\x07').length - 1;
}

/** The row of the screen that contains `needle`. */
function rowOf(t: FakeTerminal, needle: string): number {
  const y = t.lines().findIndex((l) => l.includes(needle));
  if (y < 0) throw new Error(`no row with ${needle}:\n${t.text()}`);
  return y;
}

beforeAll(async () => {
  relay = await startRelay();
});

afterAll(async () => {
  for (const s of opened) {
    s.t.type(KEY.f10);
    await s.done;
    s.t.dispose();
  }
  for (const u of users) await u.stop();
  await relay.stop();
  fs.rmSync(relay.dir, { recursive: true, force: true });
  for (const u of users) fs.rmSync(u.dir, { recursive: true, force: true });
});

describe('two people on the full screen', () => {
  let adam: OpenScreen;
  let eve: OpenScreen;
  let bob: TestUser;

  beforeAll(async () => {
    bob = await makeUser(relay.port, 'Bob');
    users.push(bob);
    eve = await screenFor('Eve');
    adam = await screenFor('Adam');
    await adam.user.online();
    await eve.user.online();
    // Presence comes by subscription (docs/protocol.md 7.1): the sidebar lists the people one has
    // exchanged messages with. Bob has written to both before the tests begin.
    await bob.client.send('Adam', 'hello Adam, Bob here');
    await bob.client.send('Eve', 'hello Eve, Bob here');
    await adam.t.waitFor((x) => /1 ● Bob +1/.test(x), "Bob's first message on Adam's screen");
    await eve.t.waitFor((x) => /1 ● Bob +1/.test(x), "Bob's first message on Eve's screen");
  });

  test('the three panes: contacts, conversation, input with the status line', async () => {
    const s = await adam.t.waitFor((x) => x.includes('Bob') && x.includes('│ online │'), 'contacts');
    const lines = adam.t.lines();
    expect(lines[0]).toMatch(/^┌─ Contacts ─+┐┌─ Adam ─+┐$/);
    expect(lines[26]).toMatch(/^└─+┘└─+┘$/);
    expect(lines[28]).toMatch(/^> /);
    expect(lines[29]).toContain(`127.0.0.1:${relay.port} │ online │ SHA256:`);
    expect(s).toMatch(/1 ● Bob/);
    // Eve is online but Adam has never talked to her: she is not in his sidebar.
    expect(s).not.toContain('Eve');
  });

  test("Adam's message appears in Eve's conversation with her unread count, then delivered and read", async () => {
    adam.t.type('Eve: hello Eve');
    adam.t.type(KEY.enter);
    // Eve is registered but new to Adam: the screen asks first (issue 11, defect 2).
    await adam.t.waitForText('Send to new contact Eve? [y/n]');
    adam.t.type('y');
    await adam.t.waitForText('Adam: hello Eve');
    expect(adam.t.lines()[0]).toContain('─ Eve ─');
    // Now a contact, watched: she joins the sidebar after Bob, online.
    await adam.t.waitFor((x) => /2 ● Eve/.test(x), 'Eve in the sidebar');
    // Eve has no conversation open: the message waits with a count beside Adam.
    // Bob wrote to Eve before Adam did: numbers go by first appearance (defect 8).
    await eve.t.waitFor((x) => /2 ● Adam +1/.test(x), "Adam's unread count on Eve's screen");
    await adam.t.waitFor((x) => /Adam: hello Eve +delivered│/.test(x), 'delivered');
    eve.t.type(KEY.alt('2'));
    await eve.t.waitForText('Adam: hello Eve');
    await eve.t.waitFor((x) => !/2 ● Adam +1/.test(x), 'the count to go');
    await adam.t.waitFor((x) => /Adam: hello Eve +read│/.test(x), 'read');
  });

  test("Eve answers; typing in Adam's open conversation shows on Eve's screen", async () => {
    adam.t.type('are you there?');
    await eve.t.waitForText('Adam is typing…');
    adam.t.type(KEY.ctrlU);
    eve.t.type('yes, here');
    eve.t.type(KEY.enter);
    await adam.t.waitForText('Eve: yes, here');
  });

  test('F1 lists every key and command; Escape closes it', async () => {
    adam.t.type(KEY.f1);
    const s = await adam.t.waitForText('─ Help ─');
    for (const k of ['Ctrl+N', 'Ctrl+P', 'Alt+1..9', 'Alt+A', 'PgUp', 'F2', 'F10, Ctrl+Q', 'Ctrl+L', 'F12'])
      expect(s).toContain(k);
    adam.t.type(KEY.pageDown);
    const more = await adam.t.waitForText('/verify NAME');
    expect(more).toContain('/msg NAME text');
    adam.t.type(KEY.escape);
    await adam.t.waitFor((x) => !x.includes('─ Help ─'), 'help to close');
  });

  test('F2 shows who is online', async () => {
    adam.t.type(KEY.f2);
    const s = await adam.t.waitForText('Who is online');
    expect(s).toMatch(/3 of 3 online/);
    expect(s).toMatch(/● Bob +online/);
    expect(s).toMatch(/● Eve +online/);
    adam.t.type('q');
    await adam.t.waitFor((x) => !x.includes('Who is online'), 'list to close');
  });

  test('Ctrl+N, Ctrl+P and Alt+2 switch the conversation', async () => {
    adam.t.type(KEY.ctrlN); // Eve is the last: wraps to Bob
    await adam.t.waitFor((x) => x.split('\n')[0].includes('─ Bob ─'), 'Bob open');
    adam.t.type(KEY.alt('2'));
    await adam.t.waitFor((x) => x.split('\n')[0].includes('─ Eve ─'), 'Eve open');
    adam.t.type(KEY.ctrlP);
    await adam.t.waitFor((x) => x.split('\n')[0].includes('─ Bob ─'), 'Bob open again');
    adam.t.type(KEY.alt('2'));
    await adam.t.waitFor((x) => x.split('\n')[0].includes('─ Eve ─'), 'Eve open again');
  });

  test('a message in a conversation not on screen rings the bell and Alt+A jumps to it', async () => {
    const before = adam.t.written.length;
    await bob.client.send('Adam', 'ping from Bob');
    await adam.t.waitFor((x) => /1 ● Bob +1/.test(x), 'unread from Bob');
    expect(bells(adam.t.written.slice(before))).toBeGreaterThan(0);
    adam.t.type(KEY.alt('a'));
    await adam.t.waitFor(
      (x) => x.split('\n')[0].includes('─ Bob ─') && x.includes('Bob: ping from Bob'),
      'Bob open',
    );
    adam.t.type(KEY.alt('2'));
    await adam.t.waitFor((x) => x.split('\n')[0].includes('─ Eve ─'), 'Eve open');
  });

  test('a pasted three-line block is sent as one message, after a confirmation', async () => {
    const had = eve.user.messages.length;
    adam.t.paste('first line\r\nsecond line\r\nthird line');
    const s = await adam.t.waitForText('Multi-line paste');
    expect(s).toContain('You pasted 3 lines');
    expect(eve.user.messages.length).toBe(had);
    adam.t.type('y');
    await adam.t.waitForText('third line');
    await waitFor(() => eve.user.messages.length > had, 5000, 'Eve to receive');
    await new Promise((r) => setTimeout(r, 200));
    expect(eve.user.messages.slice(had).map((m) => m.body)).toEqual(['first line\nsecond line\nthird line']);
    const lines = adam.t.lines();
    const y = rowOf(adam.t, 'Adam: first line');
    expect(lines[y + 1]).toMatch(/│ +second line/);
    expect(lines[y + 2]).toMatch(/│ +third line/);
  });

  test('a single pasted line goes into the input line to be edited', async () => {
    adam.t.paste('pasted text');
    await adam.t.waitFor((x) => x.split('\n')[28].startsWith('> pasted text'), 'the line');
    adam.t.type(KEY.home);
    adam.t.type('my ');
    await adam.t.waitFor((x) => x.split('\n')[28].startsWith('> my pasted text'), 'the edit');
    adam.t.type(KEY.end);
    adam.t.type(KEY.ctrlU);
    await adam.t.waitFor((x) => x.split('\n')[28].trim() === '>', 'cleared');
  });

  test('an emoji and CJK line shifts no column', async () => {
    adam.t.type('Eve: 😀 中文 👨‍👩‍👧 ok');
    adam.t.type(KEY.enter);
    await adam.t.waitFor((x) => /Adam: 😀 中文 👨👩👧 ok +(sent|delivered|read)│/.test(x), 'the emoji line');
    const y = rowOf(adam.t, 'Adam: 😀');
    const cells = adam.t.cells(y);
    // The conversation's right border is in the last column, as on every other row.
    expect(cells[99]).toBe('│');
    expect(adam.t.cells(y - 1)[99]).toBe('│');
    const x0 = cells.indexOf('😀');
    // Each wide character takes two cells; a blank cell may be a space or never written.
    const at = (dx: number) => cells[x0 + dx].trim();
    const expected = ['😀', '', '', '中', '', '文', '', '', '👨', '', '👩', '', '👧', '', '', 'o', 'k'];
    expect(expected.map((_, dx) => at(dx))).toEqual(expected);
    expect(adam.t.term.buffer.active.getLine(y)?.getCell(x0)?.getWidth()).toBe(2);
    await waitFor(
      () => eve.user.messages.some((m) => m.body === '😀 中文 👨‍👩‍👧 ok'),
      5000,
      'Eve gets the exact text',
    );
  });

  test('resize to 40×10 keeps the newest line, and back to 100×30', async () => {
    adam.t.resize(40, 10);
    const small = await adam.t.waitFor(
      (x) => x.split('\n')[0].startsWith('┌─ Eve ─') && x.includes('ok'),
      'small layout',
    );
    expect(small).not.toContain('Contacts');
    const lines = adam.t.lines();
    expect(lines).toHaveLength(10);
    // The newest message is on the pane's last line, just above its bottom border.
    expect(lines[5]).toContain('ok');
    expect(lines[6]).toMatch(/^└─+┘$/);
    adam.t.resize(100, 30);
    await adam.t.waitFor((x) => x.split('\n')[0].startsWith('┌─ Contacts'), 'full layout');
    expect(adam.t.lines()[26]).toMatch(/^└─+┘└─+┘$/);
  });

  test("F12 shows this client's log, pretty", async () => {
    adam.t.type(KEY.f12);
    const s = await adam.t.waitForText(`Log: ${adam.user.logFile}`.slice(0, 30));
    expect(s).toMatch(/\d\d:\d\d:\d\d (INFO|DEBUG)/);
    adam.t.type(KEY.escape);
    await adam.t.waitFor((x) => !x.includes('Log: '), 'log to close');
  });

  test('F10 quits with status 0 and restores the terminal', async () => {
    const before = adam.t.written.length;
    expect(await quit(adam)).toBe(0);
    await adam.t.settle();
    const tail = adam.t.written.slice(before);
    expect(tail).toContain('\x1b[?2004l'); // bracketed paste off
    expect(tail).toContain('\x1b[?1049l'); // the normal screen back
    expect(tail).toContain('\x1b[?25h'); // the cursor shown
    expect(adam.t.term.buffer.active.type).toBe('normal');
    expect(adam.t.term.modes.bracketedPasteMode).toBe(false);
  });
});

describe('first connection to an unknown relay', () => {
  test('the fingerprint dialog: refuse stays offline; accept connects', async () => {
    const s = await screenFor('Carol', { acceptNewServer: false, bell: false });
    const text = await s.t.waitForText('Unknown relay key');
    expect(text).toContain('SHA256:');
    expect(text).toContain('[a] accept and remember');
    s.t.type('a');
    await s.user.online();
    await s.t.waitForText('│ online │');
    s.t.type(KEY.ctrlQ);
    expect(await s.done).toBe(0);
    expect(bells(s.t.written)).toBe(0);
  });
});

describe('docs/screenshot.txt', () => {
  // Written when CHATSECURE_WRITE_SCREENSHOT=1; always checked.
  test('Adam talking to Eve, Bob online, one unread from Bob', async () => {
    const relay2 = await startRelay();
    try {
      const eve = await makeUser(relay2.port, 'Eve');
      const bob = await makeUser(relay2.port, 'Bob');
      users.push(eve, bob);
      const adam = await screenFor('Adam', { port: relay2.port });
      await adam.user.online();
      // Presence by subscription (docs/protocol.md 7.1): nobody is listed until they write.
      await adam.t.waitForText('no contacts yet');
      eve.client.send('Adam', 'Hi Adam! Did the new build reach you?');
      // Numbers by first appearance (issue 11, defect 8): Eve wrote first.
      await adam.t.waitFor((x) => /1 ● Eve +1/.test(x), "Eve's message");
      adam.t.type(KEY.alt('1'));
      await adam.t.waitForText('Eve: Hi Adam!');
      adam.t.type('It did, installing now. Safety numbers match, too.');
      adam.t.type(KEY.enter);
      await waitFor(() => eve.messages.length === 1, 5000, 'Eve to receive');
      eve.client.markShown('Adam');
      eve.client.send('Adam', 'Great 👍 lunch at 1?');
      await adam.t.waitForText('Eve: Great 👍 lunch at 1?');
      adam.t.type('Yes, see you there.');
      adam.t.type(KEY.enter);
      await waitFor(() => eve.messages.length === 2, 5000, 'Eve to receive');
      await adam.t.waitFor((x) => /see you there\. +delivered│/.test(x), 'delivered');
      bob.client.send('Adam', 'Can you review my patch today?');
      const s = await adam.t.waitFor((x) => /2 ● Bob +1/.test(x), 'the unread from Bob');
      expect(s.split('\n')[0]).toContain('─ Eve ─');
      expect(s).toMatch(/numbers match, too\. +read│/);
      if (process.env.CHATSECURE_WRITE_SCREENSHOT === '1') {
        fs.writeFileSync(
          path.join(__dirname, '..', '..', 'docs', 'screenshot.txt'),
          s.replace(/ +$/gm, '') + '\n',
        );
      }
    } finally {
      for (const s of opened.splice(0)) {
        s.t.type(KEY.f10);
        await s.done;
        s.t.dispose();
      }
      for (const u of users.splice(0)) await u.stop();
      await relay2.stop();
    }
  });
});

describe('the passphrase prompt', () => {
  test('masked, confirmed twice for a new identity, the terminal restored', async () => {
    const t = new FakeTerminal(60, 12);
    const answer = askPassphraseDialog({ user: 'Adam', confirm: true, input: t.input, output: t.output });
    await t.waitForText('Choose a passphrase');
    t.type('s3cret pass');
    const s = await t.waitForText('***********');
    expect(s).not.toContain('s3cret');
    t.type(KEY.enter);
    await t.waitForText('same passphrase again');
    t.type('wrong');
    t.type(KEY.enter);
    await t.waitForText('did not match');
    t.type('s3cret pass');
    t.type(KEY.enter);
    await t.waitForText('same passphrase again');
    t.type('s3cret pass');
    t.type(KEY.enter);
    expect(await answer).toBe('s3cret pass');
    await t.settle();
    expect(t.term.buffer.active.type).toBe('normal');
    expect(t.written).not.toContain('s3cret');
    t.dispose();
  });

  test('Escape cancels', async () => {
    const t = new FakeTerminal(60, 12);
    const answer = askPassphraseDialog({ user: 'Adam', input: t.input, output: t.output });
    await t.waitForText('Type the passphrase');
    t.type(KEY.escape);
    expect(await answer).toBeUndefined();
    t.dispose();
  });
});

describe('a contact whose identity changes', () => {
  test('the changed-safety-number warning shows, with the way to verify and accept', async () => {
    const s = await screenFor('Dave', { bell: false });
    await s.user.online();
    const frank = await makeUser(relay.port, 'Frank');
    users.push(frank);
    s.user.client.send('Frank', 'hello Frank');
    await waitFor(() => frank.messages.length === 1, 10000, 'Frank to receive');
    await frank.stop();
    users.splice(users.indexOf(frank), 1);
    // Frank lost his device: the operator frees the name and he registers a new identity.
    await relay.store.freeName('frank');
    const frank2 = await makeUser(relay.port, 'Frank');
    users.push(frank2);
    frank2.client.send('Dave', 'new phone, same Frank');
    const text = await s.t.waitForText('Safety number changed: Frank');
    expect(text).toMatch(/\/verify Frank/);
    expect(text).toMatch(/\/accept Frank/);
    expect(text).not.toContain('new phone, same Frank');
    s.t.type('c');
    await s.t.waitFor((x) => !x.includes('Safety number changed: Frank'), 'the dialog to close');
    // The sidebar marks Frank's changed key.
    expect(s.t.lines().some((l) => /Frank/.test(l) && l.includes('!'))).toBe(true);
    opened.splice(opened.indexOf(s), 1);
    expect(await quit(s)).toBe(0);
    s.t.dispose();
  });
});
