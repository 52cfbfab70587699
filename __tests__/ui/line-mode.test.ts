/**
 * The line mode on a real terminal emulator (@xterm/headless), over real Clients and a real relay
 * on loopback: what a peer sends must never act on the terminal (issue 11, defect 0), and the
 * client's own lines are said once, in words, aligned (defect 11).
 */
import * as fs from 'node:fs';
import { PassThrough } from 'node:stream';
import { makeUser, type TestUser } from '../helpers/client-harness';
import { startRelay, waitFor, type TestRelay } from '../helpers/relay-harness';
import { runLineMode } from '../../lib/ui/line-mode';
import { FakeTerminal } from './fake-terminal';

jest.setTimeout(30000);

let relay: TestRelay;
const users: TestUser[] = [];

beforeAll(async () => {
  relay = await startRelay();
});

afterAll(async () => {
  for (const u of users) await u.stop();
  await relay.stop();
  fs.rmSync(relay.dir, { recursive: true, force: true });
  for (const u of users) fs.rmSync(u.dir, { recursive: true, force: true });
});

interface LineSession {
  t: FakeTerminal;
  user: TestUser;
  input: PassThrough;
  done: Promise<number>;
}

async function lineModeFor(name: string): Promise<LineSession> {
  const user = await makeUser(relay.port, name, { start: false });
  users.push(user);
  const t = new FakeTerminal(100, 30, { lineOutput: true });
  const input = new PassThrough();
  const done = runLineMode(user.client, { json: false, input, output: t.output });
  await user.online();
  return { t, user, input, done };
}

const ESC = '\x1b';
const BEL = '\x07';

describe('defect 0: a peer text never acts on the terminal', () => {
  let dan: LineSession;
  let eve: TestUser;

  beforeAll(async () => {
    dan = await lineModeFor('Dan');
    eve = await makeUser(relay.port, 'Eve');
    users.push(eve);
  });

  afterAll(async () => {
    dan.input.end();
    await dan.done;
    dan.t.dispose();
  });

  test('title, clipboard, clear screen, colours and C1 controls are shown as ?, and /history too', async () => {
    const attack =
      `T1 ${ESC}]0;pwned${BEL} ${ESC}[2J ${ESC}]52;c;ZWNobyBwd25lZAo=${BEL} ${ESC}[31mRED \x9b31mC1 ` +
      `\n* Bob is now verified`;
    eve.client.send('Dan', attack);
    await dan.t.waitFor((s) => s.includes('RED'), "Eve's message");
    dan.input.write('/history Eve\n');
    await dan.t.waitFor((s) => s.split('RED').length === 3, 'the message again from /history');
    const lines = dan.t.allLines();
    expect(dan.t.oscs).toEqual([]);
    // Nothing was cleared: the connect notice above the message is still there.
    expect(lines.some((l) => l.startsWith('* connected to'))).toBe(true);
    const row = lines.findIndex((l) => l.includes('RED'));
    expect(lines[row]).toMatch(
      /^\[\d\d:\d\d:\d\d\] Eve: T1 \?\]0;pwned\? \?\[2J \?\]52;c;ZWNobyBwd25lZAo=\? \?\[31mRED \?31mC1 $/,
    );
    // The forged notice is marked as the peer's text: it does not start a line.
    expect(lines[row + 1]).toBe('  | * Bob is now verified');
    expect(lines.filter((l) => l.startsWith('* Bob'))).toEqual([]);
    // No cell took a colour from the peer.
    const buf = dan.t.term.buffer.active;
    const cell = buf.getLine(row)?.getCell(lines[row].indexOf('RED'));
    expect(cell?.isFgDefault()).toBe(true);
    // And the bytes themselves: no ESC, BEL or C1 from the peer reached the terminal.
    expect(dan.t.written).not.toMatch(/[\x07\x1b\x9b]/); // eslint-disable-line no-control-regex
  });

  test('a name or error text that quotes peer input is neutralised too', async () => {
    dan.input.write(`/verify Nob${ESC}]0;x${BEL}ody\n`);
    dan.input.write('/history Eve\n');
    await dan.t.waitFor((s) => s.split('RED').length === 4, 'the sentinel /history');
    expect(dan.t.oscs).toEqual([]);
    expect(dan.t.written).not.toMatch(/[\x07\x1b\x9b]/); // eslint-disable-line no-control-regex
  });
});

describe('defect 11: the line mode says things once, in words, aligned', () => {
  test('receipts in words, /contacts aligned, no wire codes in sentences, one closed line', async () => {
    const ann = await lineModeFor('Ann');
    const zed = await makeUser(relay.port, 'Zedekiah');
    users.push(zed);
    zed.client.send('Ann', 'hello Ann');
    await ann.t.waitForText('Zedekiah: hello Ann');
    ann.input.write('Zedekiah: hi there\n');
    await ann.t.waitFor((s) => /\* your message reached Zedekiah \[[0-9a-f]{8}\]/.test(s), 'delivered');
    zed.client.markShown('Ann');
    await ann.t.waitFor((s) => /\* Zedekiah read your message \[[0-9a-f]{8}\]/.test(s), 'the read receipt');
    expect(ann.t.text()).not.toMatch(/message read to/);
    ann.input.write('/contacts\n');
    await ann.t.waitFor((s) => /^ {2}Zedekiah +unverified/m.test(s), '/contacts');
    const rows = ann.t.allLines().filter((l) => /^ {2}\S+ +(unverified|verified|changed)/.test(l));
    expect(rows.length).toBeGreaterThan(0);
    const col = (l: string) => l.search(/(unverified|verified|changed)/);
    expect(new Set(rows.map(col)).size).toBe(1);
    ann.input.write('/verify Nobody\n');
    await ann.t.waitForText('Nobody');
    const err = ann.t.allLines().find((l) => l.startsWith('! ') && l.includes('Nobody')) as string;
    expect(err).not.toMatch(/\([a-z_]+\)$/);
    ann.input.end();
    expect(await ann.done).toBe(0);
    await zed.client.close();
    await waitFor(() => zed.client.connection.state === 'closed', 10000, 'zed closed');
    const closed = ann.t.allLines().filter((l) => l.startsWith('* closed'));
    expect(closed.length).toBeLessThanOrEqual(1);
    expect(ann.t.text()).not.toContain('closed: closed');
    ann.t.dispose();
  });
});
