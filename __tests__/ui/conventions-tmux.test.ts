/**
 * Issue 11, the conventions, in a real terminal: the built binary in a tmux pane, inside
 * `script` (which records every byte the client writes, for the OSC notifications tmux itself
 * does not show), against a real relay process; once with TERM=tmux-256color and once with
 * TERM=xterm-256color. Keys go in through tmux; what is asserted is what tmux's screen shows
 * (capture-pane, with -e for colours) or what the client wrote. The command-line options
 * (--theme, --notify, --notify-command, --mouse) are given to the binary, so each test also
 * checks that the client passes them on to the screen. Needs `npm run build`, tmux and script.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nameColour, themeFor, type ThemeName } from '../../lib/ui/screen/theme';
import { makeUser, type TestUser } from '../helpers/client-harness';
import { BIN, startRelayProcess, tempDir, waitFor, type RelayProcess } from '../helpers/relay-harness';
import { requireBuiltUi, tmuxDriver } from './tmux-driver';

jest.setTimeout(120000);

const SOCKET = `chatsecure-conv-${process.pid}`;
const ROOT = path.join(__dirname, '..', '..');
const { tmux, capture, waitForPane } = tmuxDriver(SOCKET, 20000);
const has = (t: string | RegExp) => (s: string) => (typeof t === 'string' ? s.includes(t) : t.test(s));
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** SGR foreground codes of the colour names the themes use (blessed's 16 colours). */
const SGR: Record<string, number> = {
  red: 31,
  green: 32,
  yellow: 33,
  blue: 34,
  magenta: 35,
  cyan: 36,
  'light-red': 91,
  'light-green': 92,
  'light-blue': 94,
  'light-magenta': 95,
};

/** The SGR parameters written just before `needle` on the row that shows `rowText` (capture -e). */
function sgrBefore(raw: string, needle: string, rowText = needle): number[] {
  // eslint-disable-next-line no-control-regex
  const row = raw.split('\n').find((l) => l.replace(/\x1b\[[\d;]*m/g, '').includes(rowText));
  if (row === undefined) throw new Error(`no row with ${rowText}:\n${raw}`);

  const m = new RegExp(`((?:\\x1b\\[[\\d;]*m)+)${needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).exec(row);
  if (!m) return [];
  // eslint-disable-next-line no-control-regex
  return m[1].split(/\x1b\[|m/).flatMap((p) => (p ? p.split(';').map(Number) : []));
}

/** The foreground colour (SGR code, 39: the default) in force at the first run of text in `row` that `at` matches. */
function fgAt(row: string, at: RegExp): number {
  let fg = 39;
  // eslint-disable-next-line no-control-regex
  for (const part of row.split(/(\x1b\[[\d;]*m)/)) {
    if (part.startsWith('\x1b[')) {
      for (const p of part.slice(2, -1).split(';').map(Number))
        if (p === 0 || p === 39) fg = 39;
        else if ((p >= 30 && p <= 37) || (p >= 90 && p <= 97)) fg = p;
      continue;
    }
    if (at.test(part)) return fg;
  }
  throw new Error(`${String(at)} not in ${row}`);
}

let relay: RelayProcess;
let dir: string;
const users: TestUser[] = [];

beforeAll(async () => {
  requireBuiltUi();
  dir = tempDir('chatsecure-conv-');
  // Every client here registers from 127.0.0.1: more than the default 10 an hour.
  const config = path.join(dir, 'relay.toml');
  fs.writeFileSync(config, '[limits]\nregistrations-per-address-per-hour = 1000\n');
  relay = await startRelayProcess(path.join(dir, 'relay'), ['--config', config]);
});

afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
  for (const u of users) await u.stop();
  await relay?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function peer(name: string): Promise<TestUser> {
  const u = await makeUser(relay.port, name);
  users.push(u);
  return u;
}

interface Session {
  readonly name: string;
  /** Every byte the client wrote to its terminal. */
  readonly written: () => string;
}

/** The binary in a 100x30 tmux pane, under `script`; the first-run recovery code closed. */
async function open(
  name: string,
  term: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Session> {
  const record = path.join(dir, `${name}.typescript`);
  const run = path.join(dir, `${name}.sh`);
  const exports = Object.entries({ TERM: term, ...env })
    .map(([k, v]) => `export ${k}=${q(v)}\n`)
    .join('');
  fs.writeFileSync(
    run,
    `#!/bin/sh\ncd ${q(ROOT)}\nunset NO_COLOR WT_SESSION KITTY_WINDOW_ID\n${exports}` +
      `node ${q(BIN)} --user ${name} --server 127.0.0.1:${relay.port} --data-dir ${q(path.join(dir, name))}` +
      ` --accept-new-server ${args.map(q).join(' ')}\necho "EXIT=$?"\nsleep 60\n`,
    { mode: 0o700 },
  );
  tmux('new-session', '-d', '-s', name, '-x', '100', '-y', '30', `script -qfc ${q(run)} ${q(record)}`);
  await waitForPane(name, has('Your recovery code'), 'the recovery code');
  tmux('send-keys', '-t', name, 'q');
  await waitForPane(name, (s) => !s.includes('Your recovery code') && s.includes('│ online │'), 'online');
  return { name, written: () => fs.readFileSync(record, 'utf8') };
}

const keys = (s: Session, ...k: string[]) => tmux('send-keys', '-t', s.name, ...k);
const typed = (s: Session, text: string) => tmux('send-keys', '-t', s.name, '-l', text);
/** The Alt+N that opens `peerName`, read from the sidebar. */
async function openConversation(s: Session, peerName: string): Promise<void> {
  const row = new RegExp(`(\\d) [●○] ${peerName} `);
  const shown = await waitForPane(s.name, has(row), `${peerName} in the sidebar`);
  keys(s, `M-${(row.exec(shown) as RegExpExecArray)[1]}`);
  await waitForPane(s.name, (x) => x.split('\n')[0].includes(`─ ${peerName} `), `${peerName} open`);
}

/** Two names from `Pal1`, `Pal2`, ... that the theme gives different colours. */
function twoColours(prefix: string, theme: ThemeName): [string, string] {
  const t = themeFor(theme, {});
  const first = `${prefix}Pal1`;
  for (let i = 2; i < 50; i++) {
    const other = `${prefix}Pal${i}`;
    if (nameColour(t, other) !== nameColour(t, first)) return [first, other];
  }
  throw new Error('no two names of different colours');
}

describe.each(['tmux-256color', 'xterm-256color'])('TERM=%s', (term) => {
  const tag = term.startsWith('tmux') ? 'T' : 'X';

  describe('default options', () => {
    let s: Session;
    let pals: [TestUser, TestUser];
    const [name1, name2] = twoColours(`${tag}d`, 'dark');

    beforeAll(async () => {
      pals = [await peer(name1), await peer(name2)];
      s = await open(`${tag}dflt`, term, []);
    });

    test('per-name colours: each sender in the colour of the hash of the name', async () => {
      const dark = themeFor('dark', {});
      for (const [i, p] of pals.entries()) {
        p.client.send(s.name, `colour check ${i}`);
        await openConversation(s, p.client.name);
        await waitForPane(s.name, has(`${p.client.name}: colour check ${i}`), 'the message');
        const codes = sgrBefore(capture(s.name, true), p.client.name, `colour check ${i}`);
        expect(codes).toContain(SGR[nameColour(dark, p.client.name)]);
      }
      expect(nameColour(dark, name1)).not.toBe(nameColour(dark, name2));
    });

    test('Ctrl+R finds the newest sent line with the typed text, again the one before', async () => {
      await openConversation(s, name1);
      for (const line of ['alpha one', 'beta two']) {
        typed(s, line);
        keys(s, 'Enter');
        await waitForPane(s.name, has(new RegExp(`${s.name}: ${line} +(sent|delivered|read)`)), line);
      }
      typed(s, 'o');
      keys(s, 'C-r');
      await waitForPane(s.name, has(/^> beta two *$/m), 'the newest line with "o"');
      keys(s, 'C-r');
      await waitForPane(s.name, has(/^> alpha one *$/m), 'the one before');
      // Alt+F: a word forward from the start, and Ctrl+K cuts the rest.
      keys(s, 'C-a');
      keys(s, 'M-f');
      keys(s, 'C-k');
      await waitForPane(s.name, has(/^> alpha *$/m), 'the word after Alt+F cut');
      keys(s, 'C-u');
      await waitForPane(s.name, has(/^> *$/m), 'an empty line');
    });

    test('/search highlights the matches, n and N move between them', async () => {
      await openConversation(s, name2);
      for (const b of ['needle one', 'hay', 'needle two', 'needle three']) pals[1].client.send(s.name, b);
      await waitForPane(s.name, has(`${name2}: needle three`), 'the messages');
      typed(s, '/search needle');
      keys(s, 'Enter');
      await waitForPane(s.name, has('Match 1 of 3 for "needle"'), 'the first match');
      const raw = capture(s.name, true);
      expect(sgrBefore(raw, 'needle', 'needle three')).toContain(7);
      expect(sgrBefore(raw, 'hay')).not.toContain(7);
      keys(s, 'n');
      await waitForPane(s.name, has('Match 2 of 3'), 'n: the next older match');
      keys(s, 'n');
      await waitForPane(s.name, has('Match 3 of 3'), 'n: the oldest match');
      keys(s, 'N');
      const back = await waitForPane(s.name, has('Match 2 of 3'), 'N: a newer match');
      expect(back).toMatch(/^> *$/m); // n and N were not typed into the line
      keys(s, 'Escape');
      await waitForPane(s.name, (x) => !x.includes('Match 2 of 3'), 'Esc to end the search');
      // Ctrl+F asks for the text in a dialog.
      keys(s, 'C-f');
      await waitForPane(s.name, has('Find in this conversation:'), 'the search dialog');
      typed(s, 'hay');
      keys(s, 'Enter');
      await waitForPane(s.name, has('Match 1 of 1 for "hay"'), 'the match found by Ctrl+F');
      expect(sgrBefore(capture(s.name, true), 'hay', `${name2}: hay`)).toContain(7);
      keys(s, 'Escape');
      await waitForPane(s.name, (x) => !x.includes('Match 1 of 1'), 'Esc to end the search');
    });

    test('the read marker sits above what came while the conversation was not on screen', async () => {
      await openConversation(s, name1);
      await openConversation(s, name2);
      pals[0].client.send(s.name, 'while away 1');
      pals[0].client.send(s.name, 'while away 2');
      await waitForPane(s.name, has(new RegExp(`\\d [●○] ${name1} +2`)), 'two unread');
      await openConversation(s, name1);
      const screen = await waitForPane(s.name, has('while away 2'), 'the new messages');
      const rows = screen.split('\n');
      const at = (t: string) => rows.findIndex((l) => l.includes(t));
      expect(at('new since you last looked')).toBeGreaterThan(at('beta two'));
      expect(at('new since you last looked')).toBeLessThan(at('while away 1'));
    });

    test('without --notify, --notify-command or --mouse: no OSC notification, the wheel does not scroll', async () => {
      await openConversation(s, name2);
      pals[0].client.send(s.name, 'quiet please');
      await waitForPane(s.name, has(new RegExp(`\\d [●○] ${name1} +1`)), 'the unread count');
      expect(s.written()).not.toMatch(/\x1b\](777|9);/); // eslint-disable-line no-control-regex
      // eslint-disable-next-line no-control-regex
      expect(s.written()).not.toMatch(/\x1b\[\?100[0-6]h/);
      tmux('send-keys', '-t', s.name, 'F10');
      const end = await waitForPane(s.name, has('EXIT='), 'the exit status');
      expect(end).toContain('EXIT=0');
    });
  });

  describe('--theme light --notify --notify-command --mouse, and $EDITOR', () => {
    let s: Session;
    let pal: TestUser;
    const notified = path.join(tempDir('chatsecure-notified-'), 'names');
    const [palName] = twoColours(`${tag}l`, 'light');

    beforeAll(async () => {
      pal = await peer(palName);
      const editor = path.join(dir, `${tag}-editor.sh`);
      fs.writeFileSync(editor, `#!/bin/sh\nprintf 'from the editor\\n' > "$1"\n`, { mode: 0o700 });
      s = await open(
        `${tag}opts`,
        term,
        [
          '--theme',
          'light',
          '--notify',
          '--notify-command',
          `printf '%s\\n' "$1" >> ${q(notified)}`,
          '--mouse',
        ],
        { EDITOR: editor, TERM_PROGRAM: 'tmux' },
      );
    });

    test('--notify: OSC 777 and the command, naming the sender, never the text', async () => {
      pal.client.send(s.name, 'a secret body');
      // `>>` creates the file before printf writes to it: wait for the whole line, not the file.
      await waitFor(
        () => fs.existsSync(notified) && fs.readFileSync(notified, 'utf8').endsWith('\n'),
        20000,
        'the notify command',
      );
      await waitFor(
        // Inside tmux ($TMUX): wrapped for tmux to pass on to the terminal it runs in.
        () =>
          s.written().includes(`\x1bPtmux;\x1b\x1b]777;notify;ChatSecure;Message from ${palName}\x07\x1b\\`),
        20000,
        'OSC 777',
      );
      expect(fs.readFileSync(notified, 'utf8')).toBe(`${palName}\n`);
      expect(s.written()).not.toMatch(/\]777;[^\x07]*secret/); // eslint-disable-line no-control-regex
    });

    test('--theme light: times in blue, the sender in the light palette', async () => {
      await openConversation(s, palName);
      await waitForPane(s.name, has(`${palName}: a secret body`), 'the message');
      const raw = capture(s.name, true);
      const row = raw.split('\n').find((l) => l.includes('a secret body')) as string;
      expect(fgAt(row, /\d\d:\d\d/)).toBe(SGR[themeFor('light', {}).dim]);
      expect(sgrBefore(raw, palName, 'a secret body')).toContain(
        SGR[nameColour(themeFor('light', {}), palName)],
      );
    });

    test('--mouse: the wheel scrolls the conversation', async () => {
      for (let i = 0; i < 40; i++) pal.client.send(s.name, `wheel ${i}`);
      await waitForPane(s.name, has(`${palName}: wheel 39`), 'the last line');
      // An SGR mouse report of the wheel going up, as the terminal sends it.
      typed(s, '\x1b[<64;30;10M');
      await waitForPane(s.name, (x) => /lines up/.test(x.split('\n')[0]), 'scrolled up');
      typed(s, '\x1b[<65;30;10M');
      await waitForPane(s.name, (x) => !/lines up/.test(x.split('\n')[0]), 'back at the bottom');
      expect(capture(s.name)).toMatch(/^> *$/m); // the report was not typed into the line
    });

    test('Alt+E: the line comes back from $EDITOR and is sent', async () => {
      keys(s, 'M-e');
      await waitForPane(s.name, has(/^> from the editor *$/m), 'the edited line');
      keys(s, 'Enter');
      await waitFor(() => pal.messages.some((m) => m.body === 'from the editor'), 20000, 'the message');
      keys(s, 'F10');
      await waitForPane(s.name, has('EXIT=0'), 'the exit status');
    });
  });

  describe('NO_COLOR, and --notify in a terminal that takes OSC 9', () => {
    test('no colour at all, marks still drawn; the notification as OSC 9', async () => {
      const pal = await peer(`${tag}nPal`);
      const s = await open(`${tag}nocol`, term, ['--notify'], { NO_COLOR: '1', TERM_PROGRAM: 'WezTerm' });
      pal.client.send(s.name, 'colourless');
      await waitFor(
        () => s.written().includes(`\x1bPtmux;\x1b\x1b]9;Message from ${pal.client.name}\x07\x1b\\`),
        20000,
        'OSC 9',
      );
      expect(s.written()).not.toContain('\x1b]777;');
      await openConversation(s, pal.client.name);
      await waitForPane(s.name, has(`${pal.client.name}: colourless`), 'the message');
      typed(s, 'mine');
      keys(s, 'Enter');
      await waitForPane(s.name, has(/mine +(sent|delivered|read)/), 'the own message and its mark');
      // eslint-disable-next-line no-control-regex
      const colours = capture(s.name, true).match(/\x1b\[[\d;]*m/g) ?? [];
      const params = colours.flatMap((c) => c.slice(2, -1).split(';').map(Number));
      expect(
        params.filter((p) => ((p >= 30 && p <= 49) || (p >= 90 && p <= 107)) && p !== 39 && p !== 49),
      ).toEqual([]);
      expect(params).toContain(1); // bold names
      keys(s, 'F10');
      await waitForPane(s.name, has('EXIT=0'), 'the exit status');
    });
  });
});
