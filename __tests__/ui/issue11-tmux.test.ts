/**
 * Issue 11 in a real terminal: the built binary in a tmux pane (a real pseudo-terminal), against
 * a real relay process, once with TERM=tmux-256color (tmux's default) and once with
 * TERM=xterm-256color. What is asserted is what tmux's screen shows (capture-pane, with -e for
 * colours). Needs `npm run build` and tmux.
 */
import * as path from 'node:path';
import { makeUser, type TestUser } from '../helpers/client-harness';
import { waitFor } from '../helpers/relay-harness';
import { tmuxCells } from './tmux-cells';
import { tmuxDriver, tmuxRelaySuite } from './tmux-driver';

jest.setTimeout(90000);

const SOCKET = `chatsecure-i11-${process.pid}`;
const ROOT = path.join(__dirname, '..', '..');

const driver = tmuxDriver(SOCKET, 20000);
const { tmux, capture, waitForPane } = driver;

const has = (t: string | RegExp) => (s: string) => (typeof t === 'string' ? s.includes(t) : t.test(s));

const suite = tmuxRelaySuite(driver, { root: ROOT, prefix: 'chatsecure-i11-' });

describe.each(['tmux-256color', 'xterm-256color'])('TERM=%s', (term) => {
  const me = term.startsWith('tmux') ? 'Tina' : 'Xena';
  const peer = `${me}Pal`;
  let pal: TestUser;

  beforeAll(async () => {
    pal = await makeUser(suite.relay.port, peer);
    suite.users.push(pal);
    // First start: the relay key is accepted and the recovery code closed (issue 9).
    await suite.firstRun(me, term);
  });

  test('defect 7: the notice expires by itself', async () => {
    await waitForPane(me, has('Relay key accepted'), 'the notice');
    await waitForPane(me, (s) => !s.includes('Relay key accepted'), 'the notice to go', 30000);
  });

  test('defect 1: typed /help stays open until closed', async () => {
    tmux('send-keys', '-t', me, '-l', '/help');
    tmux('send-keys', '-t', me, 'Enter');
    await waitForPane(me, has('─ Help ─'), 'the help');
    // A key the viewer takes (scroll) and then its close: the help was still open for both.
    tmux('send-keys', '-t', me, 'Down');
    tmux('send-keys', '-t', me, 'q');
    await waitForPane(me, (s) => !s.includes('─ Help ─'), 'the help to close');
  });

  test('defect 4: grey (times, marks) is not black', async () => {
    pal.client.send(me, 'grey check');
    const unread = new RegExp(`(\\d) ● ${peer} +1`);
    const shown = await waitForPane(me, has(unread), 'the unread');
    tmux('send-keys', '-t', me, `M-${(unread.exec(shown) as RegExpExecArray)[1]}`);
    await waitForPane(me, has(`${peer}: grey check`), 'the message');
    const raw = capture(me, true);
    const row = raw.split('\n').find((l) => l.includes('grey check')) as string;
    expect(row).toBeDefined();
    expect(row).not.toContain('\x1b[30m');
    expect(row).toMatch(/\x1b\[(90|38;5;\d+)m\d\d:\d\d/); // eslint-disable-line no-control-regex
  });

  test('defect 2: "PS: ..." in an open conversation asks, and n sends the line there', async () => {
    tmux('send-keys', '-t', me, '-l', 'PS: I will be late');
    tmux('send-keys', '-t', me, 'Enter');
    await waitForPane(me, has('Send to new contact PS? [y/n]'), 'the question');
    tmux('send-keys', '-t', me, 'n');
    await waitFor(
      () => pal.messages.some((m) => m.body === 'PS: I will be late'),
      20000,
      `${peer} to get the line`,
    );
  });

  test('defect 12: Esc then fast typing keeps the first character', async () => {
    tmux('send-keys', '-t', me, '-l', '/nonsense');
    tmux('send-keys', '-t', me, 'Enter');
    await waitForPane(me, has('unknown command /nonsense'), 'an error notice');
    tmux('send-keys', '-t', me, 'C-u');
    // One write: ESC and the letters, as a fast typist's keys arrive.
    tmux('send-keys', '-t', me, 'Escape', 'h', 'e', 'l', 'l', 'o');
    const s = await waitForPane(me, has('> hello'), 'the typed word');
    expect(s).not.toContain('unknown command /nonsense');
    tmux('send-keys', '-t', me, 'C-u');
  });

  test('conventions: Tab completes a name, Alt+B moves a word, Ctrl+Y puts back', async () => {
    tmux('send-keys', '-t', me, '-l', `${peer.slice(0, 3)}`);
    tmux('send-keys', '-t', me, 'Tab');
    await waitForPane(me, has(`> ${peer}:`), 'the completed name');
    tmux('send-keys', '-t', me, '-l', 'one two');
    tmux('send-keys', '-t', me, 'M-b');
    tmux('send-keys', '-t', me, 'C-k');
    await waitForPane(me, (s) => new RegExp(`> ${peer}: one *\\n`).test(s), 'two cut');
    tmux('send-keys', '-t', me, 'C-y');
    await waitForPane(me, has(`> ${peer}: one two`), 'two back');
    tmux('send-keys', '-t', me, 'C-u');
  });

  test('defect 13: a skin tone is drawn (tmux: emoji and swatch, 4 cells) and the screen stays aligned', async () => {
    pal.client.send(me, 'tone 👍🏽 here, family 👨‍👩‍👧 there');
    const s = await waitForPane(me, has(`${peer}: tone 👍🏽 here`), 'the skin tone');
    const rows = s.split('\n');
    const row = rows.find((l) => l.includes('tone 👍🏽')) as string;
    // The cells as tmux counts them (👍 2, 🏽 2; a ZWJ sequence is one 2-cell picture, and tmux
    // answers the screen's probe so: zwj-tmux.test.ts).
    expect(tmuxCells(row)).toBe(100);
    expect(row.trimEnd().endsWith('│')).toBe(true);
    expect(row).toContain('👨\u200d👩\u200d👧');
    // The same in the input line: what is typed is what is sent, and the cursor is after it.
    tmux('send-keys', '-t', me, '-l', 'ok 👍🏿');
    await waitForPane(me, has('> ok 👍🏿'), 'the typed tone');
    tmux('send-keys', '-t', me, 'Enter');
    await waitFor(() => pal.messages.some((m) => m.body === 'ok 👍🏿'), 20000, `${peer} to get the tone`);
  });

  test('defect 10: at 20x6 no stray character stays; what is drawn is what a full redraw draws', async () => {
    tmux('resize-window', '-t', me, '-x', '20', '-y', '6');
    await waitForPane(me, (x) => x.split('\n')[0].length <= 20 && x.includes('F1 help'), 'the small layout');
    /** Drawn by updates, then from scratch (Ctrl+L): a stray cell shows as a difference. */
    const sameAfterRedraw = async (what: string, shown: RegExp) => {
      const settled = await waitForPane(me, has(shown), what);
      tmux('send-keys', '-t', me, 'C-l');
      await waitForPane(me, (x) => x === settled, `${what}, the same after Ctrl+L`, 5000);
    };
    tmux('send-keys', '-t', me, '-l', 'abc 日本語日本語 👍🏽 xyz long enough to scroll');
    await sameAfterRedraw('a long line', /^> .*to scroll *$/m);
    tmux('send-keys', '-t', me, 'Home');
    await sameAfterRedraw('Home', /^> abc 日本語/m);
    for (let i = 0; i < 8; i++) tmux('send-keys', '-t', me, 'Delete');
    await sameAfterRedraw('Delete', /^> 本語 👍🏽 xyz/m);
    tmux('send-keys', '-t', me, 'End');
    for (let i = 0; i < 50; i++) tmux('send-keys', '-t', me, 'BSpace');
    await sameAfterRedraw('all deleted', /^> *$/m);
    tmux('resize-window', '-t', me, '-x', '100', '-y', '30');
    await waitForPane(me, has('│ online │'), 'the full layout');
  });

  test('quit: status 0', async () => {
    tmux('send-keys', '-t', me, 'F10');
    const s = await waitForPane(me, has('EXIT='), 'the exit status');
    expect(s).toContain('EXIT=0');
  });
});
