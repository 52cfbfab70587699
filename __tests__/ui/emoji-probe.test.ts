/**
 * Issue 11, defect 13 on a terminal emulator (@xterm/headless) over real Clients and a real
 * relay: the screen asks the terminal how it draws 👍🏽 (cursor position report) and draws skin
 * tones the way it answered; with no answer it drops them, as before. The tmux case (a tone as
 * its own 2-cell swatch) is in issue11-tmux.test.ts.
 */
import * as fs from 'node:fs';
import { runScreen } from '../../lib/ui/screen/run-screen';
import { EMOJI_PROBE_MS, emojiModeOf } from '../../lib/ui/screen/terminal';
import { codePointWidth, isSkinTone, isTextEmoji } from '../../lib/ui/width';
import { makeUser, type TestUser } from '../helpers/client-harness';
import { startRelay, type TestRelay } from '../helpers/relay-harness';
import { FakeTerminal, KEY } from './fake-terminal';

jest.setTimeout(30000);

let relay: TestRelay;
let bob: TestUser;
const users: TestUser[] = [];

beforeAll(async () => {
  relay = await startRelay();
  bob = await makeUser(relay.port, 'Bob');
  users.push(bob);
});

/** The open screen, quit after each test whatever it found (the emoji mode is per process). */
let quitOpen: (() => Promise<number>) | undefined;
afterEach(async () => {
  await quitOpen?.();
  quitOpen = undefined;
});

afterAll(async () => {
  for (const u of users) await u.stop();
  await relay.stop();
  for (const d of [relay.dir, ...users.map((u) => u.dir)]) fs.rmSync(d, { recursive: true, force: true });
});

/** Opens `name`'s screen on `t`, has Bob write `body`, opens Bob's conversation; returns its row. */
async function shown(
  t: FakeTerminal,
  name: string,
  body: string,
): Promise<{ row: number; quit: () => Promise<number> }> {
  const user = await makeUser(relay.port, name, { start: false });
  users.push(user);
  const done = runScreen(user.client, {
    bell: false,
    readReceipts: true,
    input: t.input,
    output: t.output,
    emoji: 'probe',
  });
  await t.waitForText('│ online │');
  bob.client.send(name, body);
  await t.waitForText(/1 ● Bob/);
  t.type(KEY.alt('1'));
  await t.waitForText('Bob: tone');
  const row = t.lines().findIndex((l) => l.includes('Bob: tone'));
  let status: Promise<number> | undefined;
  const quit = () => {
    if (!status) {
      t.type(KEY.f10);
      status = done.finally(() => t.dispose());
    }
    return status;
  };
  quitOpen = quit;
  return { row, quit };
}

test.each([
  // Columns after 👍🏽, 👨‍👩‍👧 and ❤️ (1 + the cells each took), as terminals answer.
  ['tmux 3.3a', [5, 3, 2], 'separate+zwj'],
  ['kitty-like', [3, 3, 3], 'joined+zwj+vs16'],
  ['ZWJ sequences side by side', [5, 7, 2], 'separate'],
  ['columns that fit no known way', [4, 5, 4], 'flatten'],
  ['no answer', [], 'flatten'],
] as const)('the probe, %s: columns %j → %s', (_what, cols, mode) => {
  expect(emojiModeOf(...cols)).toBe(mode);
});

test('a terminal that joins the tone: 👍🏽 in one 2-cell picture, the border in place', async () => {
  const t = new FakeTerminal(100, 30, { answers: true, joinSkinTones: true });
  const s = await shown(t, 'Jay', 'tone 👍🏽 end');
  // Drawn once the answer is in: wait for the tone itself.
  await t.waitFor(() => t.cells(s.row).includes('👍🏽'), 'the joined tone');
  const cells = t.cells(s.row);
  const at = cells.indexOf('👍🏽');
  expect(cells[at + 1]).toBe(''); // the second half of one wide picture
  expect(cells.slice(at + 2, at + 6).map((c) => c || ' ')).toEqual([' ', 'e', 'n', 'd']);
  expect(cells[99]).toBe('│');
  expect(await s.quit()).toBe(0);
});

test('a terminal that draws the tone apart: 👍 and 🏽, 2 cells each, the border in place', async () => {
  const t = new FakeTerminal(100, 30, { answers: true });
  const s = await shown(t, 'Sep', 'tone 👍🏽 end');
  await t.waitFor(() => t.cells(s.row).includes('🏽'), 'the tone as its own picture');
  const cells = t.cells(s.row);
  const at = cells.indexOf('👍');
  expect(cells.slice(at, at + 4)).toEqual(['👍', '', '🏽', '']);
  expect(cells.slice(at + 4, at + 8).map((c) => c || ' ')).toEqual([' ', 'e', 'n', 'd']);
  expect(cells[99]).toBe('│');
  expect(await s.quit()).toBe(0);
});

/**
 * Makes `t` draw emoji as kitty and WezTerm do: a skin tone, a VS16, a ZWJ and the emoji after
 * it join the cell before; VS16 makes a text-style emoji (❤) 2 cells wide. xterm's join state
 * (the value before) carries what the last code point was.
 */
function drawLikeKitty(t: FakeTerminal): void {
  const AFTER_ZWJ = 1;
  const TEXT_EMOJI = 2;
  const value = (kind: number, width: number, join: boolean) => (kind << 3) | (width << 1) | (join ? 1 : 0);
  const width = (cp: number) => (isSkinTone(cp) ? 0 : codePointWidth(cp));
  t.term.unicode.register({
    version: 'kitty-like',
    wcwidth: width,
    charProperties: (cp, before) => {
      const kind = before >> 3;
      const cells = (before >> 1) & 3;
      if (before !== 0 && kind === AFTER_ZWJ) return value(0, cells, true);
      if (before !== 0 && cp === 0x200d) return value(AFTER_ZWJ, cells, true);
      if (before !== 0 && cp === 0xfe0f && kind === TEXT_EMOJI) return value(0, 2, true);
      if (before !== 0 && width(cp) === 0) return value(0, cells, true);
      return value(isTextEmoji(cp) ? TEXT_EMOJI : 0, width(cp), false);
    },
  });
  t.term.unicode.activeVersion = 'kitty-like';
}

test('a terminal that joins tones, ZWJ sequences and VS16 (kitty): each one picture, 2 cells', async () => {
  const t = new FakeTerminal(100, 30, { answers: true });
  drawLikeKitty(t);
  const family = '👨\u200d👩\u200d👧';
  const heart = '❤\ufe0f';
  const rainbow = '🏳\ufe0f\u200d🌈';
  const s = await shown(t, 'Kit', `tone 👍🏽 ${family} ${heart} ${rainbow} end`);
  await t.waitFor(() => t.cells(s.row).includes(rainbow), 'the rainbow flag whole');
  const cells = t.cells(s.row);
  const at = cells.indexOf('👍🏽');
  // Each picture and the second half of it ('' as a blank), then a space.
  expect(cells.slice(at, at + 15).map((c) => c || ' ')).toEqual(
    [['👍🏽'], [family], [heart], [rainbow]].flatMap(([p]) => [p, ' ', ' ']).concat(['e', 'n', 'd']),
  );
  expect(cells[99]).toBe('│');
  // A search for an emoji inside a picture: the row keeps its layout (the picture is one cell).
  for (const needle of ['👩', '❤', '👍']) {
    t.type(`/search ${needle}\r`);
    await t.waitFor((x) => x.includes('1 of 1'), `the search for ${needle}`);
    expect(t.cells(s.row)).toEqual(cells);
    t.type('\x1b');
    await t.waitFor((x) => !x.includes('1 of 1'), 'the search to end');
  }
  // The input line: typed, the cursor right after the pictures (the prompt is 2 cells).
  t.type(`${family}${heart}`);
  await t.waitForText(`> ${family}${heart}`);
  expect(t.term.buffer.active.cursorX).toBe(6);
  expect(await s.quit()).toBe(0);
});

test('a terminal that draws a ZWJ sequence side by side (6 cells): 👨👩👧, each 2 cells, aligned', async () => {
  const t = new FakeTerminal(100, 30, { answers: true });
  const s = await shown(t, 'Fam', 'tone 👍🏽 👨\u200d👩\u200d👧 end');
  // Both answers come together: once the tone shows, the family is drawn as it was measured.
  await t.waitFor(() => t.cells(s.row).includes('🏽'), 'the answers to the probe');
  const cells = t.cells(s.row);
  const at = cells.indexOf('👨');
  expect(cells.slice(at, at + 6)).toEqual(['👨', '', '👩', '', '👧', '']);
  expect(cells.slice(at + 6, at + 10).map((c) => c || ' ')).toEqual([' ', 'e', 'n', 'd']);
  expect(cells.join('')).not.toContain('\u200d');
  expect(cells[99]).toBe('│');
  expect(await s.quit()).toBe(0);
});

test('no answer from the terminal: the tone is dropped and a ZWJ sequence flattened, as before', async () => {
  const t = new FakeTerminal(100, 30);
  const s = await shown(t, 'Non', 'tone 👍🏽 🧑\u200d💻 end');
  // Past the probe's wait, the screen has given up asking and redrawn; a sentinel message
  // after that shows the screen as it now draws.
  await new Promise((r) => setTimeout(r, EMOJI_PROBE_MS + 200));
  bob.client.send('Non', 'tone sentinel');
  await t.waitForText('Bob: tone sentinel');
  const cells = t.cells(t.lines().findIndex((l) => l.includes('Bob: tone 👍')));
  expect(cells).toContain('👍');
  expect(cells.join('')).not.toContain('🏽');
  const at = cells.indexOf('🧑');
  expect(cells.slice(at, at + 8).map((c) => c || ' ')).toEqual(['🧑', ' ', '💻', ' ', ' ', 'e', 'n', 'd']);
  expect(cells[99]).toBe('│');
  expect(await s.quit()).toBe(0);
});
