/**
 * Issue 11, defect 13 in a real terminal: emoji ZWJ sequences (👨‍👩‍👧, 🧑‍💻) drawn as one picture
 * where the terminal draws them so. tmux 3.3a joins a ZWJ sequence into one 2-cell picture and
 * answers the screen's probe (a cursor position report after 👨‍👩‍👧) with column 3; the built
 * binary runs in a tmux pane against a real relay process, under TERM=tmux-256color and
 * TERM=xterm-256color, and what is asserted is tmux's screen (capture-pane) and cursor. tmux
 * draws ❤️ in 1 cell, so a sequence led by a text-style emoji (🏳️‍🌈) stays side by side here;
 * a terminal that draws both (kitty) and one that answers nothing: emoji-probe.test.ts.
 * Needs `npm run build` and tmux.
 */
import * as path from 'node:path';
import { makeUser, type TestUser } from '../helpers/client-harness';
import { waitFor } from '../helpers/relay-harness';
import { tmuxCells } from './tmux-cells';
import { tmuxDriver, tmuxRelaySuite } from './tmux-driver';

jest.setTimeout(90000);

const SOCKET = `chatsecure-zwj-${process.pid}`;
const ROOT = path.join(__dirname, '..', '..');
const FAMILY = '👨\u200d👩\u200d👧';
const CODER = '🧑\u200d💻';
const RAINBOW = '🏳\ufe0f\u200d🌈';
const HEART = '❤\ufe0f';

const driver = tmuxDriver(SOCKET, 20000);
const { tmux, waitForPane } = driver;
const has = (t: string | RegExp) => (s: string) => (typeof t === 'string' ? s.includes(t) : t.test(s));

const suite = tmuxRelaySuite(driver, { root: ROOT, prefix: 'chatsecure-zwj-' });

describe.each(['tmux-256color', 'xterm-256color'])('TERM=%s', (term) => {
  const me = term.startsWith('tmux') ? 'Zack' : 'Zora';
  const peer = `${me}Pal`;
  let pal: TestUser;

  beforeAll(async () => {
    pal = await makeUser(suite.relay.port, peer);
    suite.users.push(pal);
    // First start: the relay key is accepted and the recovery code closed (issue 9).
    await suite.firstRun(me, term);
  });

  test('a message: each ZWJ sequence is one picture, and the columns after it stay in place', async () => {
    pal.client.send(me, `fam ${FAMILY} and ${CODER} end`);
    const unread = new RegExp(`(\\d) ● ${peer} +1`);
    const shown = await waitForPane(me, has(unread), 'the unread');
    tmux('send-keys', '-t', me, `M-${(unread.exec(shown) as RegExpExecArray)[1]}`);
    const s = await waitForPane(me, has(`${peer}: fam ${FAMILY} and ${CODER} end`), 'the sequences whole');
    const row = s.split('\n').find((l) => l.includes(`fam ${FAMILY}`)) as string;
    expect(row).not.toContain('👨👩👧');
    expect(tmuxCells(row)).toBe(100);
    expect(row.trimEnd().endsWith('│')).toBe(true);
    // Drawn by updates, then from scratch (Ctrl+L): the same screen, no cell left over.
    tmux('send-keys', '-t', me, 'C-l');
    await waitForPane(me, (x) => x === s, 'the same screen after Ctrl+L', 5000);
    // A search for an emoji inside a sequence highlights inside one picture: the row stays.
    tmux('send-keys', '-t', me, '-l', '/search 👩');
    tmux('send-keys', '-t', me, 'Enter');
    const found = await waitForPane(me, has('1 of 1'), 'the search');
    expect(found.split('\n').find((l) => l.includes(`fam ${FAMILY}`))).toBe(row);
    tmux('send-keys', '-t', me, 'Escape');
    await waitForPane(me, (x) => !x.includes('1 of 1'), 'the search to end');
  });

  test('where tmux draws no 2-cell picture (❤️ is 1 cell in tmux 3.3a): 🏳️‍🌈 side by side, ❤ as text', async () => {
    pal.client.send(me, `flag ${RAINBOW} heart ${HEART} end`);
    const s = await waitForPane(me, has(`${peer}: flag 🏳🌈 heart ❤ end`), 'the flag side by side');
    const row = s.split('\n').find((l) => l.includes('flag 🏳🌈')) as string;
    expect(row).not.toContain('\ufe0f');
    expect(tmuxCells(row)).toBe(100);
    expect(row.trimEnd().endsWith('│')).toBe(true);
  });

  /** The input line's row, and tmux's cursor, once `text` shows after the prompt. */
  async function inputShows(text: string): Promise<{ line: string; x: number; y: number; row: number }> {
    const s = await waitForPane(me, has(`> ${text}`), `the input ${JSON.stringify(text)}`);
    const rows = s.split('\n');
    const row = rows.findIndex((l) => l.includes(`> ${text}`));
    const [x, y] = tmux('display-message', '-p', '-t', me, '#{cursor_x} #{cursor_y}')
      .trim()
      .split(' ')
      .map(Number);
    return { line: rows[row], x, y, row };
  }

  test('the input line: the cursor is right after a typed and after a pasted ZWJ sequence', async () => {
    tmux('send-keys', '-t', me, '-l', `ok ${CODER}`);
    const typed = await inputShows(`ok ${CODER}`);
    expect(typed.y).toBe(typed.row);
    expect(typed.x).toBe(tmuxCells(typed.line.slice(0, typed.line.indexOf(CODER) + CODER.length)));
    // A paste, bracketed as tmux sends it to a program that asked (paste-buffer -p).
    tmux('set-buffer', '-b', 'zwj', ` ${FAMILY} x`);
    tmux('paste-buffer', '-p', '-d', '-b', 'zwj', '-t', me);
    const pasted = await inputShows(`ok ${CODER} ${FAMILY} x`);
    expect(pasted.x).toBe(
      tmuxCells(pasted.line.slice(0, pasted.line.indexOf(`${FAMILY} x`) + FAMILY.length + 2)),
    );
    // Left over "x", the space and then the family: 1 + 1 + 2 cells (one picture).
    tmux('send-keys', '-t', me, 'Left', 'Left', 'Left');
    await waitFor(
      () => tmux('display-message', '-p', '-t', me, '#{cursor_x}').trim() === String(pasted.x - 4),
      5000,
      'the cursor before the family',
    );
    tmux('send-keys', '-t', me, 'End', 'Enter');
    const body = `ok ${CODER} ${FAMILY} x`;
    await waitFor(() => pal.messages.some((m) => m.body === body), 20000, `${peer} to get the line as typed`);
  });

  test('quit: status 0', async () => {
    tmux('send-keys', '-t', me, 'F10');
    const s = await waitForPane(me, has('EXIT='), 'the exit status');
    expect(s).toContain('EXIT=0');
  });
});

describe.each(['tmux-256color', 'xterm-256color'])('--emoji plain, TERM=%s', (term) => {
  const me = term.startsWith('tmux') ? 'Pia' : 'Pam';
  const peer = `${me}Pal`;
  let pal: TestUser;

  beforeAll(async () => {
    pal = await makeUser(suite.relay.port, peer);
    suite.users.push(pal);
    await suite.firstRun(me, term, ['--emoji', 'plain']);
  });

  test('the family is drawn side by side although tmux draws it whole (the probe is not asked)', async () => {
    pal.client.send(me, `fam ${FAMILY} tone 👍🏽 end`);
    const unread = new RegExp(`(\\d) ● ${peer} +1`);
    const shown = await waitForPane(me, has(unread), 'the unread');
    tmux('send-keys', '-t', me, `M-${(unread.exec(shown) as RegExpExecArray)[1]}`);
    const s = await waitForPane(me, has(`${peer}: fam 👨👩👧 tone 👍 end`), 'the sequences flattened');
    const row = s.split('\n').find((l) => l.includes('fam 👨👩👧')) as string;
    expect(tmuxCells(row)).toBe(100);
    expect(row.trimEnd().endsWith('│')).toBe(true);
    tmux('send-keys', '-t', me, 'F10');
    await waitForPane(me, has('EXIT=0'), 'the exit');
  });
});
