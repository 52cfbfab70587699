/**
 * The full-screen UI (issue 5, issue 11): `runScreen(core, opts)` opens the screen over a
 * `ChatCore`, and resolves with the exit status once the user quits, with the terminal restored.
 *
 * Map for contributors:
 * - a key:      add it to KEY_BINDINGS in keys.ts (F1 lists it from there; `screenKey` maps a
 *               key press to what it does, a pure function), then handle its action in
 *               `ScreenApp.onAction` below (the switch is exhaustive).
 * - a command:  lib/ui/commands.ts (`parseCommand`, COMMAND_HELP), then `ScreenApp.onCommand`.
 * - a dialog:   dialogs.ts (`question`, `viewer`, `prompt`).
 * - state:      view-model.ts, fed by the core's events: drawing reads memory only.
 * - drawing:    layout.ts (where), sidebar.ts, conversation-view.ts, status-line.ts (what),
 *               theme.ts (colours); widths in ../width.ts, peer text through ../sanitize.ts.
 * - the line:   ../input-line.ts (editing, history, bracketed paste) and EDIT_KEYS in keys.ts.
 * - terminal:   terminal.ts (raw mode, paste mode, restore on every exit path).
 * The UI never touches a socket or a key: it calls `ChatCore` and draws its events (DESIGN.md).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import blessed from 'neo-blessed';
import { canonName } from '../../names';
import type { ChatMessage, ClientEvents, ConnectionState } from '../../client/types';
import {
  COMMAND_WORDS,
  GROUP_HELP,
  groupAddressed,
  PAIR_HELP,
  parseCommand,
  type Command,
} from '../commands';
import type { GroupEvent } from '../core';
import {
  displayNames,
  eventWithDisplayNames,
  findGroup,
  groupEventText,
  groupLabel,
  groupListLines,
  groupMembersLines,
  groupResultText,
  isGroupKey,
  receiptCounts,
  runGroupCommand,
  sendToGroup,
  withDisplayNames,
} from '../groups';
import { applyInput, emptyInput, renderInput, type InputEdit, type InputState } from '../input-line';
import { neutralise } from '../sanitize';
import { displayWidth, fitToWidth, setEmojiMode, toDrawable, wrapToWidth, type EmojiMode } from '../width';
import { messageLines, visibleWindow, type ViewLine } from './conversation-view';
import type { ChatCore } from './core';
import { Dialogs, type KeyPress } from './dialogs';
import { keyHelpRows, screenKey, type KeyAction, type KeyEvent } from './keys';
import { applyLayout, computeLayout, createPanes, innerSize, type Panes } from './layout';
import { readLogForViewer } from './log-viewer';
import { sidebarLines } from './sidebar';
import { statusText } from './status-line';
import { openTerminal, type Terminal, type TerminalStreams } from './terminal';
import { paint, themeFor, type Theme, type ThemeName } from './theme';
import { isGroupEntry, ViewModel } from './view-model';

export type { ChatCore } from './core';
export { HISTORY_SHOWN } from './view-model';

export interface ScreenOptions extends TerminalStreams {
  /** Ring the bell on a message in a conversation that is not on screen (`--no-bell`: false). */
  readonly bell: boolean;
  /** Shown in the help; the core itself decides whether receipts are sent. */
  readonly readReceipts: boolean;
  /** Runs before the terminal is restored on a crash: flush the log here. */
  readonly onExit?: () => void | Promise<void>;
  /** `--theme light` for a light terminal background (NO_COLOR turns colour off either way). */
  readonly theme?: ThemeName;
  /** `--notify osc777|osc9`: a desktop notification through the terminal, naming the sender only. */
  readonly notify?: 'osc777' | 'osc9';
  /** `--notify-command CMD`: run by /bin/sh with the sender's name as $1 (never the text). */
  readonly notifyCommand?: string;
  /** `--mouse`: the wheel scrolls the conversation. */
  readonly mouse?: boolean;
  /** The editor for Alt+E; `$VISUAL`, `$EDITOR`, then `vi`. */
  readonly editor?: string;
  /**
   * Skin tones (defect 13): `probe` asks the terminal how it draws them (the default on the
   * process's own terminal); a mode sets it; the default on other streams is `flatten`.
   */
  readonly emoji?: EmojiMode | 'probe';
}

/**
 * Which desktop-notification sequence `--notify` writes: OSC 9 where the terminal is known to
 * take it (iTerm2, WezTerm, Windows Terminal, kitty), else OSC 777 (VTE terminals, foot, urxvt,
 * Konsole); a terminal that knows neither ignores the sequence.
 */
export function notifyStyle(env: NodeJS.ProcessEnv): 'osc777' | 'osc9' {
  const program = env.TERM_PROGRAM ?? '';
  if (/^(iTerm\.app|WezTerm)$/.test(program) || env.WT_SESSION || env.KITTY_WINDOW_ID) return 'osc9';
  return 'osc777';
}

/** tmux's passthrough: DCS tmux; with every ESC doubled; ST. */
export function tmuxPassthrough(seq: string): string {
  return `\x1bPtmux;${seq.split('\x1b').join('\x1b\x1b')}\x1b\\`;
}

/** Exit statuses: 0 quit by the user; 1 a crash; 128+n a signal, as shells report it. */
export const EXIT_OK = 0;
export const EXIT_CRASH = 1;
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
/** How long a crash waits for `onExit` (the log flush) before restoring the terminal anyway. */
export const CRASH_FLUSH_MS = 2000;
/** How long a notice stays (defect 7); an error a little longer. */
export const NOTICE_MS = 5000;
export const ERROR_NOTICE_MS = 10000;
/** After the relay key changed, how often the client tries again on its own (defect 6). */
export const RELAY_KEY_RETRY_MS = 15000;
/** Lines the mouse wheel scrolls. */
const WHEEL_LINES = 3;

/**
 * Opens the full-screen UI over `core`, starts the core (do not call `core.start()` first: the
 * UI must be listening for 'server-unknown'), and resolves with the exit status when the user
 * quits (F10, Ctrl+Q, /exit) or a signal arrives. The caller then closes the core. On an
 * uncaught exception it awaits `onExit`, restores the terminal and exits the process with 1.
 */
export function runScreen(core: ChatCore, opts: ScreenOptions): Promise<number> {
  return new Promise<number>((resolve) => {
    const terminal = openTerminal(opts);
    const app = new ScreenApp(core, opts, terminal, resolve);
    app.start();
  });
}

export class ScreenApp {
  private readonly screen: blessed.Widgets.Screen;
  private readonly panes: Panes;
  private readonly dialogs: Dialogs;
  private readonly vm: ViewModel;
  private readonly theme: Theme;
  private readonly typing = new Map<string, string>();
  private typingSentTo: string | undefined;
  /** Lines scrolled up from the newest (0: pinned to the bottom). */
  private scroll = 0;
  /** Messages that arrived below while scrolled up ("↓ N new"). */
  private newBelow = 0;
  private input: InputState = emptyInput();
  private notice: { text: string; error: boolean } | undefined;
  private noticeTimer: NodeJS.Timeout | undefined;
  /** /search: the text, and which match (counted from the newest) is shown. */
  private search: { text: string; index: number } | undefined;
  private renderQueued = false;
  private countdown: NodeJS.Timeout | undefined;
  private relayRetry: NodeJS.Timeout | undefined;
  private relayWarningShown: string | undefined;
  private finished = false;
  private readonly detach: (() => void)[] = [];
  /** The safety number last shown per contact: what /accept accepts (CLIENT-API.md 4). */
  private readonly shownNumbers = new Map<string, string>();
  private linesCache:
    | {
        key: { history: readonly ChatMessage[]; width: number; markerId?: string; search?: string };
        lines: ViewLine[];
      }
    | undefined;
  /** The sidebar's rows, made again when the contacts (a new array on each change) or the width change. */
  private sidebarCache:
    { contacts: readonly unknown[]; active: string | undefined; width: number; lines: string[] } | undefined;

  constructor(
    private readonly core: ChatCore,
    private readonly opts: ScreenOptions,
    private readonly terminal: Terminal,
    private readonly done: (status: number) => void,
  ) {
    this.screen = terminal.screen;
    this.theme = themeFor(opts.theme);
    this.panes = createPanes(this.screen, this.theme.color);
    this.dialogs = new Dialogs(this.screen, () => this.queueRender());
    this.vm = new ViewModel(core);
  }

  start(): void {
    this.listen('state', (s) => this.onState(s));
    this.listen('presence', () => this.refreshContacts());
    this.listen('message', (m) => this.onMessage(m));
    this.listen('receipt', (r) => {
      this.vm.touched(r.peer);
      if (canonName(r.peer) === this.vm.active) this.vm.refreshConversation();
      this.queueRender();
    });
    this.listen('typing', (t) => {
      if (t.on) this.typing.set(canonName(t.peer), t.peerName);
      else this.typing.delete(canonName(t.peer));
      this.queueRender();
    });
    this.listen('contact', (c) => this.onContact(c.name, c.state));
    this.listen('error', (e) => {
      // A group error (e.g. a member's changed identity blocks sending): its row shows it too.
      if (e.peer && isGroupKey(e.peer)) this.refreshContacts();
      this.say(e.message, true);
    });
    this.listen('server-unknown', (s) => void this.askServerTrust(s.hostPort, s.fingerprint));
    (this.core as unknown as NodeJS.EventEmitter).on('recovery-code', (r: { code: string }) =>
      this.showRecoveryCode(r.code),
    );
    this.listen('group', (e) => this.onGroupEvent(e));

    this.screen.on('keypress', (ch: string | undefined, key: KeyEvent) => this.onKey(ch, key));
    this.screen.on('resize', () => this.render());
    if (this.opts.mouse) {
      this.screen.program.enableMouse();
      this.screen.program.on('mouse', (d: { action?: string }) => {
        if (d.action === 'wheelup') this.scrollBy(WHEEL_LINES);
        else if (d.action === 'wheeldown') this.scrollBy(-WHEEL_LINES);
      });
    }
    this.terminal.onPaste((text, truncated) => this.onPaste(text, truncated));
    this.installExitHandlers();
    this.refreshContacts();
    this.render();
    this.core.start();
    const emoji = this.opts.emoji ?? (this.opts.input === undefined ? 'probe' : 'flatten');
    if (emoji === 'probe') void this.terminal.probeEmoji().then((m) => this.useEmojiMode(m));
    else this.useEmojiMode(emoji);
  }

  /** Draws everything again with skin tones as the terminal draws them (defect 13). */
  private useEmojiMode(mode: EmojiMode): void {
    if (this.finished) return;
    setEmojiMode(mode);
    this.linesCache = undefined;
    this.sidebarCache = undefined;
    this.screen.realloc();
    this.render();
  }

  private listen<K extends keyof ClientEvents>(event: K, fn: (...args: ClientEvents[K]) => void): void {
    const f = fn as (...args: unknown[]) => void;
    (this.core as unknown as NodeJS.EventEmitter).on(event, f);
    this.detach.push(() => (this.core as unknown as NodeJS.EventEmitter).off(event, f));
  }

  // -------------------------------------------------------------------------------------------
  // Exit paths: all of them restore the terminal exactly once.

  private installExitHandlers(): void {
    const crash = (err: unknown) => void this.crash(err);
    process.on('uncaughtException', crash);
    process.on('unhandledRejection', crash);
    this.detach.push(() => {
      process.off('uncaughtException', crash);
      process.off('unhandledRejection', crash);
    });
    for (const [sig, status] of Object.entries(SIGNAL_EXIT) as [NodeJS.Signals, number][]) {
      const h = () => this.finish(status);
      process.on(sig, h);
      this.detach.push(() => process.off(sig, h));
    }
  }

  private async crash(err: unknown): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    try {
      await Promise.race([
        Promise.resolve(this.opts.onExit?.()),
        new Promise((r) => setTimeout(r, CRASH_FLUSH_MS).unref()),
      ]);
    } catch {
      // The terminal matters more than the log now.
    }
    this.cleanup();
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`chatsecure: the screen crashed: ${neutralise(msg)}\n`);
    process.exit(EXIT_CRASH);
  }

  private finish(status: number): void {
    if (this.finished) return;
    this.finished = true;
    this.cleanup();
    this.done(status);
  }

  private cleanup(): void {
    if (this.typingSentTo) this.safely(() => this.core.setTyping(this.typingSentTo as string, false));
    for (const t of [this.countdown, this.noticeTimer, this.relayRetry]) if (t) clearTimeout(t);
    for (const d of this.detach.splice(0)) d();
    this.dialogs.closeAll();
    this.terminal.restore();
    setEmojiMode('flatten');
  }

  // -------------------------------------------------------------------------------------------
  // Core events

  private refreshContacts(): void {
    this.safely(() => this.vm.refreshContacts());
    this.queueRender();
  }

  private onState(s: ConnectionState): void {
    this.tickCountdown();
    if (s.state === 'closed' && s.code === 'server_key_changed') this.onRelayKeyChanged(s.reason);
    if (s.state === 'online') this.relayWarningShown = undefined;
    this.queueRender();
  }

  /** Defect 6: the warning as a dialog (both keys, the command), and a retry now and then. */
  private onRelayKeyChanged(reason: string): void {
    if (this.relayRetry) clearTimeout(this.relayRetry);
    this.relayRetry = setTimeout(() => {
      this.relayRetry = undefined;
      if (!this.finished && this.core.connection.state === 'closed') this.core.start();
    }, RELAY_KEY_RETRY_MS);
    this.relayRetry.unref();
    if (this.relayWarningShown === reason) return;
    this.relayWarningShown = reason;
    const text = reason
      .split('\n')
      .filter((l) => !/^@+$/.test(l))
      .map((l) => l.replace(/^@\s+/, ''))
      .join('\n')
      .replace(/^WARNING: THE RELAY KEY HAS CHANGED!\n/, '');
    void this.dialogs.viewer(
      'WARNING: the relay key has changed',
      `${text}\n\nNot connected. This client tries again every ${RELAY_KEY_RETRY_MS / 1000} s, in case the right key is back.`,
    );
  }

  private onMessage(m: ChatMessage): void {
    const peer = canonName(m.peer);
    this.typing.delete(peer);
    this.vm.touched(peer);
    if (peer === this.vm.active) {
      this.safely(() => this.core.markShown(peer));
      this.safely(() => this.vm.refreshConversation());
      if (this.scroll > 0) this.newBelow++;
    } else {
      if (this.opts.bell) this.screen.program.bell();
      this.notifyDesktop(
        isGroupKey(peer)
          ? `${m.sender ?? m.peerName} in ${groupLabel(this.vm.nameOf(peer).slice(1))}`
          : m.peerName,
      );
    }
    this.refreshContacts();
  }

  /** A group changed (issue 16): the sidebar and the open conversation again, and a notice. */
  private onGroupEvent(e: GroupEvent): void {
    const before = this.vm.nameOf(e.key);
    this.vm.touched(e.key);
    this.refreshContacts();
    if (e.key === this.vm.active) this.safely(() => this.vm.refreshConversation());
    const info = this.safely(() => this.core.group(e.key));
    this.say(
      groupEventText(
        eventWithDisplayNames(e, this.names()),
        this.core.name,
        before.startsWith('#') ? before.slice(1) : undefined,
        info ? withDisplayNames(info, this.names()) : undefined,
      ),
      e.what === 'removed-me',
    );
  }

  /** Members' names as their owners registered them (the client lists them canonical). */
  private names(): (name: string) => string {
    return displayNames(this.core.name, this.vm.contacts);
  }

  /** Opt-in desktop notification: the sender's name only, never the text. */
  private notifyDesktop(peerName: string): void {
    const name = neutralise(peerName).replace(/;/g, '?');
    const osc =
      this.opts.notify === 'osc777'
        ? `\x1b]777;notify;ChatSecure;Message from ${name}\x07`
        : this.opts.notify === 'osc9'
          ? `\x1b]9;Message from ${name}\x07`
          : undefined;
    // Inside tmux the sequence is wrapped for tmux to pass on to the terminal it runs in (with
    // `set -g allow-passthrough on`); tmux itself does nothing with an OSC 777 or 9.
    if (osc) this.screen.program.output.write(process.env.TMUX ? tmuxPassthrough(osc) : osc);
    if (this.opts.notifyCommand) {
      try {
        // The name is an argument ($1), never part of the command line: nothing to inject.
        const child = spawn('/bin/sh', ['-c', this.opts.notifyCommand, 'chatsecure-notify', name], {
          stdio: 'ignore',
          detached: true,
        });
        child.on('error', (err) => this.say(`--notify-command failed: ${err.message}`, true));
        child.unref();
      } catch (err) {
        this.say(`--notify-command failed: ${err instanceof Error ? err.message : String(err)}`, true);
      }
    }
  }

  private onContact(name: string, state: string): void {
    this.refreshContacts();
    this.safely(() => this.vm.refreshConversation());
    if (state !== 'changed') return;
    const text =
      `The safety number you share with ${name} has changed. Either ${name} reinstalled ` +
      `ChatSecure, or someone is between you. Sending to ${name} is blocked, and ${name}'s new ` +
      `messages are held, until you accept the new identity.\n\n` +
      `Compare the new number with ${name} in person or by a call: /verify ${name}\n` +
      `If it matches, accept it: /accept ${name}`;
    void this.dialogs
      .question(
        `Safety number changed: ${name}`,
        text,
        [
          { key: 'v', label: 'show the new safety number', value: true },
          { key: 'c', label: 'close', value: false },
        ],
        { value: false },
      )
      .then((show) => {
        if (show) this.showSafetyNumber(name);
      });
  }

  private async askServerTrust(hostPort: string, fingerprint: string): Promise<void> {
    const text =
      `The relay at ${hostPort} presents a key this client has not seen before:\n\n  ${fingerprint}\n\n` +
      `Ask the relay's operator for the output of "chatsecure fingerprint --serve" and compare. ` +
      `Accept only if it is the same.`;
    const accept = await this.dialogs.question<boolean>(
      'Unknown relay key',
      text,
      [
        { key: 'a', label: 'accept and remember', value: true },
        { key: 'r', label: 'refuse', value: false },
      ],
      { value: false },
    );
    this.safely(() => this.core.trustServer(accept));
    this.say(accept ? 'Relay key accepted and remembered.' : 'Relay key refused; not connecting.', !accept);
  }

  private showRecoveryCode(code: string): void {
    void this.dialogs.viewer(
      'Your recovery code',
      `Write this down and keep it somewhere safe. With it you can take your name back on a new ` +
        `device. /recovery shows it again.\n\n  ${code}`,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Keys

  private onKey(ch: string | undefined, key: KeyEvent): void {
    if (this.finished) return;
    const full = key.full ?? key.name ?? '';
    if (this.dialogs.open) {
      // The synthetic `enter` blessed sends before `return` must not close what a line opened.
      if (full !== 'enter') this.dialogs.key({ ch, full } as KeyPress);
      return;
    }
    if (this.search && this.input.text === '' && (ch === 'n' || ch === 'N')) {
      this.moveSearch(ch === 'n' ? 1 : -1);
      return;
    }
    if (full === 'tab') {
      const names = this.vm.entries.map((c) => (isGroupEntry(c) ? '#' + c.name : c.name));
      this.edit({ t: 'complete', candidates: [...COMMAND_WORDS, ...names] });
      return;
    }
    if (full === 'C-f') {
      void this.dialogs.prompt('Search', 'Find in this conversation:', false).then((t) => {
        if (t) this.onCommand({ action: 'search', text: t });
      });
      return;
    }
    const k = screenKey(ch, key);
    switch (k.t) {
      case 'action':
        this.onAction(k.action);
        return;
      case 'edit':
        this.edit(k.edit);
        return;
      case 'dismiss':
        if (k.clearLine && this.input.text === '') this.say('To quit, press F10 or Ctrl+Q, or type /exit.');
        else this.clearNotice();
        this.search = undefined;
        if (k.clearLine) this.edit({ t: 'clear' });
        this.queueRender();
        return;
      case 'escape-then':
        this.clearNotice();
        this.edit({ t: 'insert', text: k.text });
        return;
      case 'ignore':
        return;
    }
  }

  private onAction(a: KeyAction): void {
    const contacts = this.vm.entries;
    switch (a.t) {
      case 'next-conversation':
      case 'prev-conversation': {
        if (contacts.length === 0) return;
        const i = contacts.findIndex((c) => c.canon === this.vm.active);
        const step = a.t === 'next-conversation' ? 1 : -1;
        const next =
          i < 0 ? (step > 0 ? 0 : contacts.length - 1) : (i + step + contacts.length) % contacts.length;
        this.open(contacts[next].canon);
        return;
      }
      case 'goto-conversation': {
        const c = contacts[a.index];
        if (c) this.open(c.canon);
        return;
      }
      case 'next-unread': {
        const i = contacts.findIndex((c) => c.canon === this.vm.active);
        const n = contacts.length;
        for (let k = 1; k <= n; k++) {
          const c = contacts[(i + k + n) % n];
          if (c.unread > 0 && c.canon !== this.vm.active) {
            this.open(c.canon);
            return;
          }
        }
        this.say('No unread messages.');
        return;
      }
      case 'page-up':
      case 'page-down': {
        const page = Math.max(1, innerSize(this.layout().conversation).height - 1);
        this.scrollBy(a.t === 'page-up' ? page : -page);
        return;
      }
      case 'help':
        void this.dialogs.viewer('Help', this.helpText(), false, true);
        return;
      case 'who':
        void this.showWho();
        return;
      case 'quit':
        this.finish(EXIT_OK);
        return;
      case 'redraw':
        this.screen.realloc();
        this.render();
        return;
      case 'log-viewer':
        void this.dialogs.viewer(`Log: ${this.core.logFile}`, readLogForViewer(this.core.logFile), true);
        return;
      case 'compose':
        this.compose();
        return;
    }
  }

  private scrollBy(lines: number): void {
    this.scroll = Math.max(0, this.scroll + lines);
    if (this.scroll === 0) this.newBelow = 0;
    this.queueRender();
  }

  /** Alt+E: the line in $EDITOR; what the editor saves comes back as the line. */
  private compose(): void {
    const editor = this.opts.editor ?? process.env.VISUAL ?? process.env.EDITOR ?? 'vi';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-compose-'));
    const file = path.join(dir, 'message.txt');
    try {
      fs.writeFileSync(file, this.input.text, { mode: 0o600, flag: 'wx' });
      const r = this.terminal.suspend(() =>
        spawnSync('/bin/sh', ['-c', `${editor} "$1"`, 'editor', file], { stdio: 'inherit' }),
      );
      if (r.status !== 0) {
        this.say(`The editor (${editor}) ended with an error; the line is as it was.`, true);
      } else {
        const text = fs.readFileSync(file, 'utf8').replace(/\n+$/, '');
        this.input = emptyInput(this.input.history);
        if (text.includes('\n')) this.edit({ t: 'paste', text });
        else this.edit({ t: 'insert', text });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    this.render();
  }

  private edit(e: InputEdit): void {
    const r = applyInput(this.input, e);
    this.input = r.state;
    if (this.input.pendingPaste !== undefined) void this.confirmPaste(this.input.pendingPaste);
    if (r.submitted !== undefined) this.onLine(r.submitted);
    this.updateTyping();
    this.queueRender();
  }

  private onPaste(text: string, truncated: boolean): void {
    if (this.finished) return;
    if (this.dialogs.open) {
      this.dialogs.paste(text);
      return;
    }
    if (truncated) this.say('The paste was too long and was cut.', true);
    this.edit({ t: 'paste', text });
  }

  private async confirmPaste(text: string): Promise<void> {
    const lines = text.split('\n').length;
    const to = this.vm.active ? this.vm.nameOf(this.vm.active) : 'the conversation';
    const preview = text.split('\n').slice(0, 5).join('\n') + (lines > 5 ? '\n…' : '');
    const ok = await this.dialogs.question(
      'Multi-line paste',
      `You pasted ${lines} lines. Send them to ${to} as one message?\n\n${preview}`,
      [
        { key: 'y', label: 'send as one message', value: true },
        { key: 'n', label: 'discard', value: false },
      ],
      { value: false },
    );
    this.edit({ t: ok ? 'paste-confirm' : 'paste-cancel' });
  }

  /** Tells the open conversation's contact that we type, and that we stopped. */
  private updateTyping(): void {
    const text = this.input.text;
    const active = this.vm.active;
    let want = active !== undefined && text.trim() !== '' && !text.startsWith('/') ? active : undefined;
    // `#team: ...` is written to the group team, not to the open conversation (issue 16).
    const addressed = groupAddressed(text);
    if (addressed !== undefined) {
      const name = addressed.toLowerCase();
      want = this.vm.entries.find((e) => isGroupEntry(e) && e.name.toLowerCase() === name)?.canon;
    }
    if (this.typingSentTo && this.typingSentTo !== want) {
      const peer = this.typingSentTo;
      this.typingSentTo = undefined;
      this.safely(() => this.core.setTyping(peer, false));
    }
    if (want) {
      this.typingSentTo = want;
      this.safely(() => this.core.setTyping(want, true));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Commands (lib/ui/commands.ts, shared with line mode)

  private onLine(line: string): void {
    this.clearNotice();
    this.onCommand(parseCommand(line), line);
  }

  /** Puts a line that could not be sent back in the input (defect 9). */
  private keepLine(line: string | undefined): void {
    if (line === undefined || this.input.text !== '') return;
    this.input = { ...this.input, text: line, cursor: line.length };
  }

  private onCommand(c: Command, line?: string): void {
    const active = this.vm.active;
    switch (c.action) {
      case 'send': {
        const canon = canonName(c.to);
        if (c.prefixed && canon !== active && !this.safely(() => this.vm.isKnown(canon))) {
          void this.askNewContact(c.to, c.body, line ?? `${c.to}: ${c.body}`);
          return;
        }
        if (!this.send(c.to, c.body)) this.keepLine(line);
        return;
      }
      case 'say':
        if (!active) {
          this.say('No conversation open: pick one with Ctrl+N or Alt+1..9, or type NAME: text.', true);
          this.keepLine(line);
          return;
        }
        if (!this.sendToActive(active, c.body)) this.keepLine(line);
        return;
      case 'send-group': {
        const known = this.safely(() => this.core.group(c.group));
        if (!known && active) {
          void this.askNoGroup(c.group, line ?? `#${c.group}: ${c.body}`);
          return;
        }
        if (!this.sendGroup(c.group, c.body)) this.keepLine(line);
        return;
      }
      case 'group': {
        const raw = this.safely(() => runGroupCommand(this.core, c), true);
        if (!raw) {
          this.keepLine(line);
          return;
        }
        this.refreshContacts();
        const info = withDisplayNames(raw, this.names());
        if (c.op === 'members') {
          void this.dialogs.viewer(
            `Members of ${groupLabel(info.name)}`,
            groupMembersLines(info, this.core.name).join('\n'),
          );
          return;
        }
        if (c.op === 'create') this.open(info.key);
        else if (info.key === active) this.safely(() => this.vm.refreshConversation());
        this.say(groupResultText(c, info, this.core.name));
        return;
      }
      case 'groups': {
        const gs = this.safely(() => this.core.groups(), true);
        if (Array.isArray(gs)) void this.dialogs.viewer('Groups', groupListLines(gs).join('\n'));
        return;
      }
      case 'help':
        void this.dialogs.viewer('Help', this.helpText(), false, true);
        return;
      case 'list':
        void this.showWho();
        return;
      case 'exit':
        this.finish(EXIT_OK);
        return;
      case 'verify':
        if (c.confirm) {
          if (this.safely(() => this.core.verify(c.user), true) !== undefined)
            this.say(`${c.user} is now marked verified.`);
        } else {
          this.showSafetyNumber(c.user);
        }
        return;
      case 'accept': {
        const shown = this.shownNumbers.get(canonName(c.user));
        if (shown === undefined) {
          this.say(`Compare the new safety number first: /verify ${c.user}`, true);
          return;
        }
        if (this.safely(() => this.core.acceptIdentity(c.user, shown), true) !== undefined) {
          this.say(`${c.user}'s new identity accepted. Compare the safety number again: /verify ${c.user}`);
        }
        return;
      }
      case 'history': {
        if (isGroupKey(c.user)) {
          const g = this.safely(() => findGroup(this.core, c.user), true);
          if (g) this.open(g.key);
          return;
        }
        this.open(canonName(c.user), c.user);
        return;
      }
      case 'contacts': {
        const cs = this.vm.contacts;
        const w = Math.max(4, ...cs.map((x) => displayWidth(toDrawable(x.name))));
        const rows = cs.map(
          (x) =>
            `${x.online ? '●' : '○'} ${toDrawable(x.name)}${' '.repeat(w - displayWidth(toDrawable(x.name)))}  ${x.state}`,
        );
        void this.dialogs.viewer('Contacts', rows.length ? rows.join('\n') : 'No contacts yet.');
        return;
      }
      case 'close': {
        const group =
          c.user && isGroupKey(c.user)
            ? this.safely(() => findGroup(this.core, c.user as string), true)
            : undefined;
        if (c.user && isGroupKey(c.user) && !group) return;
        const canon = group ? group.key : c.user ? canonName(c.user) : active;
        if (!canon) {
          this.say('No conversation open: /close NAME', true);
          return;
        }
        const shownName = c.user ?? this.vm.nameOf(canon);
        if (this.core.closeConversation) this.safely(() => this.core.closeConversation?.(canon), true);
        this.vm.close(canon);
        this.say(`Closed the conversation with ${shownName}; it comes back with a new message.`);
        return;
      }
      case 'delete': {
        if (!active) {
          this.say('Open the conversation with the failed message first.', true);
          return;
        }
        const failed = this.vm.history.filter((m) => m.state === ('failed' as ChatMessage['state']));
        if (failed.length === 0) {
          this.say('No failed message here to delete.');
          return;
        }
        if (!this.core.deleteMessage) {
          this.say('This client cannot delete messages yet.', true);
          return;
        }
        for (const m of failed) this.safely(() => this.core.deleteMessage?.(active, m.id), true);
        this.safely(() => this.vm.refreshConversation());
        this.say(
          failed.length === 1 ? 'Deleted the failed message.' : `Deleted ${failed.length} failed messages.`,
        );
        return;
      }
      case 'recovery': {
        const code = this.core.recoveryCode ? this.safely(() => this.core.recoveryCode?.(), true) : undefined;
        if (typeof code === 'string') this.showRecoveryCode(code);
        else if (!this.core.recoveryCode) this.say('This client has no recovery code yet.', true);
        return;
      }
      case 'search':
        this.search = { text: c.text, index: -1 };
        this.moveSearch(1);
        return;
      case 'empty':
        return;
      case 'invalid':
        this.say(c.message, true);
        this.keepLine(line);
        return;
    }
  }

  /** Defect 2: `PS: text` to a name never seen must not start a conversation by itself. */
  private async askNewContact(to: string, body: string, line: string): Promise<void> {
    const active = this.vm.active;
    const choices = [
      { key: 'y', label: `send to ${to}`, value: 'new' as const },
      active
        ? { key: 'n', label: `send the whole line to ${this.vm.nameOf(active)}`, value: 'active' as const }
        : { key: 'n', label: 'keep the line', value: 'keep' as const },
    ];
    const answer = await this.dialogs.question(
      `Send to new contact ${to}?`,
      `${to} is not one of your contacts. Send to new contact ${to}? [y/n]`,
      choices,
      { value: 'keep' as const },
    );
    if (answer === 'new') {
      if (!this.send(to, body)) this.keepLine(line);
    } else if (answer === 'active' && active) {
      if (!this.sendToActive(active, line)) this.keepLine(line);
    } else {
      this.keepLine(line);
    }
    this.queueRender();
  }

  /** `#NAME: text` for a group that is not one of mine: maybe the line was meant as text. */
  private async askNoGroup(group: string, line: string): Promise<void> {
    const active = this.vm.active as string;
    const label = groupLabel(group);
    const answer = await this.dialogs.question(
      `No group ${label}`,
      `You are in no group called ${label}. Send the whole line to ${this.vm.nameOf(active)}? [y/n]`,
      [
        { key: 'y', label: `send the whole line to ${this.vm.nameOf(active)}`, value: true },
        { key: 'n', label: 'keep the line', value: false },
      ],
      { value: false },
    );
    if (!answer || !this.sendToActive(active, line)) this.keepLine(line);
    this.queueRender();
  }

  /** Plain text in the open conversation: to the contact, or to the group. */
  private sendToActive(active: string, body: string): boolean {
    return isGroupKey(active) ? this.sendGroup(active, body) : this.send(this.vm.nameOf(active), body);
  }

  private sendGroup(group: string, body: string): boolean {
    const sent = this.safely(() => sendToGroup(this.core, group, body), true);
    if (sent === undefined) return false;
    this.typingSentTo = undefined;
    this.open(canonName(sent.peer));
    return true;
  }

  private send(to: string, body: string): boolean {
    const sent = this.safely(() => this.core.send(to, body), true);
    if (sent === undefined) return false;
    this.typingSentTo = undefined; // the message ends the typing notice on the other side
    this.open(canonName(sent.peer), sent.peerName);
    return true;
  }

  private showSafetyNumber(user: string): void {
    const n = this.safely(() => this.core.safetyNumber(user), true);
    if (n === undefined) return;
    this.shownNumbers.set(canonName(user), n);
    const groups = n.split(/\s+/);
    const rows = [groups.slice(0, 4), groups.slice(4, 8), groups.slice(8)].map((g) => '  ' + g.join(' '));
    const text =
      `Your safety number with ${user}:\n\n${rows.join('\n')}\n\n` +
      `Compare it with the number ${user} sees, in person or by a call. If they match: /verify ${user} confirm`;
    void this.dialogs.viewer(`Safety number: ${user}`, text);
  }

  private async showWho(): Promise<void> {
    let users;
    try {
      users = await this.core.list();
    } catch (err) {
      this.say(`Cannot list users: ${err instanceof Error ? err.message : String(err)}`, true);
      return;
    }
    if (this.finished) return;
    const width = Math.max(...users.map((u) => u.name.length), 4);
    const rows = users.map((u) => {
      const seen = u.online
        ? 'online'
        : u.lastSeen
          ? `last seen ${new Date(u.lastSeen).toLocaleString()}`
          : 'never seen';
      return `${u.online ? '●' : '○'} ${u.name.padEnd(width)}  ${seen}`;
    });
    const online = users.filter((u) => u.online).length;
    void this.dialogs.viewer('Who is online', `${online} of ${users.length} online\n\n${rows.join('\n')}`);
  }

  // -------------------------------------------------------------------------------------------
  // State

  private open(canon: string, displayName?: string): void {
    if (this.vm.active !== canon) {
      this.scroll = 0;
      this.newBelow = 0;
      this.search = undefined;
    }
    this.safely(() => this.vm.open(canon, displayName));
    this.updateTyping();
    this.safely(() => this.core.markShown(canon));
    this.refreshContacts();
  }

  private say(text: string, error = false): void {
    this.notice = { text, error };
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => this.clearNotice(), error ? ERROR_NOTICE_MS : NOTICE_MS);
    this.noticeTimer.unref();
    this.queueRender();
  }

  private clearNotice(): void {
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    this.noticeTimer = undefined;
    this.notice = undefined;
    this.queueRender();
  }

  /** Runs a core call; a thrown ChatError becomes a notice (when `show`) instead of a crash. */
  private safely<T>(fn: () => T, show = false): T | undefined {
    try {
      const r = fn();
      return r === undefined ? (true as T) : r;
    } catch (err) {
      if (show) this.say(err instanceof Error ? err.message : String(err), true);
      return undefined;
    }
  }

  private tickCountdown(): void {
    const offline = this.core.connection.state === 'offline';
    if (offline && !this.countdown) {
      this.countdown = setInterval(() => this.queueRender(), 1000);
      this.countdown.unref();
    } else if (!offline && this.countdown) {
      clearInterval(this.countdown);
      this.countdown = undefined;
    }
  }

  /** Moves to the next (1) or previous (-1) match of /search, from the newest line up. */
  private moveSearch(step: number): void {
    if (!this.search) return;
    const conv = innerSize(this.layout().conversation);
    const lines = this.conversationLines(conv.width);
    const needle = this.search.text.toLowerCase();
    const hits: number[] = [];
    for (let i = lines.length - 1; i >= 0; i--)
      if (lines[i].plain.toLowerCase().includes(needle)) hits.push(i);
    if (hits.length === 0) {
      this.say(`"${this.search.text}" is not in this conversation.`, true);
      this.search = undefined;
      return;
    }
    const index = Math.max(0, Math.min(hits.length - 1, this.search.index + step));
    this.search = { ...this.search, index };
    this.scroll = Math.max(0, lines.length - 1 - hits[index] - Math.floor(conv.height / 2));
    this.say(`Match ${index + 1} of ${hits.length} for "${this.search.text}": n older, N newer, Esc ends`);
  }

  private helpText(): string {
    const keys = keyHelpRows();
    const marks =
      `Marks\n  yours: sending → sent (or queued) → delivered → read; failed\n` +
      `  contacts: ● online ○ offline ✓ verified ! changed, N unread\n` +
      `  read receipts ${this.opts.readReceipts ? 'on' : 'off'}; bell ${this.opts.bell ? 'on' : 'off'}`;
    const table = (title: string, rows: readonly (readonly [string, string])[], width: number) => {
      const w = Math.max(...rows.map(([k]) => displayWidth(k)));
      const out = [title];
      for (const [k, d] of rows) {
        const head = `  ${k}${' '.repeat(w - displayWidth(k))}  `;
        const wrapped = wrapToWidth(d, Math.max(8, width - displayWidth(head)));
        out.push(head + wrapped[0], ...wrapped.slice(1).map((l) => ' '.repeat(displayWidth(head)) + l));
      }
      return out;
    };
    const groups = (width: number) => [
      ...table('Groups', GROUP_HELP, width),
      '  marks: # a group, ! sending blocked (a safety number changed), - you left',
    ];
    const dialogWidth = Math.min(Number(this.screen.width) - 2, 118) - 2;
    if (dialogWidth >= 100) {
      const half = Math.floor((dialogWidth - 2) / 2);
      const left = table('Keys', keys, half);
      const right = [
        ...table('Commands (type them in the input line)', PAIR_HELP, half),
        '',
        ...marks.split('\n'),
        // Below the marks: at 120x40 the sections above fill the screen (defect 10); Down shows it.
        '',
        ...groups(half),
      ];
      const rows = Math.max(left.length, right.length);
      const out: string[] = [];
      for (let i = 0; i < rows; i++)
        out.push(fitToWidth(left[i] ?? '', half, false) + '  ' + (right[i] ?? ''));
      return out.map((l) => l.trimEnd()).join('\n');
    }
    return [
      ...table('Keys', keys, dialogWidth),
      '',
      ...table('Commands', PAIR_HELP, dialogWidth),
      '',
      ...groups(dialogWidth),
      '',
      marks,
    ].join('\n');
  }

  // -------------------------------------------------------------------------------------------
  // Drawing: reads the view model and the core's in-memory state only.

  private layout() {
    return computeLayout(Number(this.screen.width), Number(this.screen.height));
  }

  /**
   * The open conversation as screen lines, made again only when what they are made of changed
   * (the history array is replaced on every change, never edited): a keystroke redraws the
   * input line without re-wrapping 500 messages.
   */
  private conversationLines(width: number): ViewLine[] {
    const key = { history: this.vm.history, width, markerId: this.vm.markerId, search: this.search?.text };
    const c = this.linesCache;
    if (
      c &&
      c.key.history === key.history &&
      c.key.width === key.width &&
      c.key.markerId === key.markerId &&
      c.key.search === key.search
    )
      return c.lines;
    const active = this.vm.active;
    const groupMark =
      active && isGroupKey(active)
        ? (m: ChatMessage) => {
            const r = this.safely(() => this.core.groupReceipts(active, m.id));
            return r ? receiptCounts(r) : undefined;
          }
        : undefined;
    const lines = messageLines(key.history, this.core.name, width, {
      theme: this.theme,
      markerId: key.markerId,
      search: key.search,
      groupMark,
    });
    this.linesCache = { key, lines };
    return lines;
  }

  private queueRender(): void {
    if (this.renderQueued || this.finished) return;
    this.renderQueued = true;
    setImmediate(() => {
      this.renderQueued = false;
      if (!this.finished) this.render();
    });
  }

  render(): void {
    if (this.finished) return;
    const layout = this.layout();
    applyLayout(this.panes, layout);
    const active = this.vm.active;
    const contacts = this.vm.entries;
    const dim = (t: string) => paint(this.theme, this.theme.dim, t);

    if (layout.sidebar) {
      const { width, height } = innerSize(layout.sidebar);
      const sc = this.sidebarCache;
      const lines =
        sc && sc.contacts === contacts && sc.active === active && sc.width === width
          ? sc.lines
          : sidebarLines(contacts, active, width, this.theme.color);
      this.sidebarCache = { contacts, active, width, lines };
      const at = Math.max(
        0,
        contacts.findIndex((c) => c.canon === active),
      );
      const first = Math.max(0, Math.min(at - height + 1, lines.length - height));
      this.panes.sidebar.setContent(
        lines.length ? lines.slice(first, first + height).join('\n') : dim('no contacts yet'),
      );
    }

    const conv = innerSize(layout.conversation);
    if (active) {
      const all = this.conversationLines(conv.width);
      const win = visibleWindow(all, conv.height, this.scroll);
      this.scroll = win.fromBottom;
      if (this.scroll === 0) this.newBelow = 0;
      const name = toDrawable(this.vm.nameOf(active));
      const hint =
        this.scroll === 0
          ? ''
          : this.newBelow > 0
            ? ` ↓ ${this.newBelow} new, PgDn`
            : ` (${this.scroll} lines up, PgDn)`;
      this.panes.conversation.setLabel(blessed.escape(` ${name}${hint} `));
      const pad = Math.max(0, conv.height - win.lines.length);
      this.panes.conversation.setContent('\n'.repeat(pad) + win.lines.map((l) => l.tagged).join('\n'));
    } else {
      this.panes.conversation.setLabel(blessed.escape(` ${toDrawable(this.core.name)} `));
      this.panes.conversation.setContent(
        blessed.escape(
          wrapToWidth(
            'No conversation open.\nCtrl+N / Alt+1..9 opens one; "NAME: text" writes to anyone.\nF1 for help.',
            conv.width,
          ).join('\n'),
        ),
      );
    }

    // The typing line: who types comes first, a notice after it, never over it (defect 7).
    const width = layout.input.width;
    const who = active ? this.typing.get(active) : undefined;
    const typingText = who ? `${toDrawable(who)} is typing…` : '';
    let line = '';
    if (typingText)
      line = dim(blessed.escape(fitToWidth(typingText, Math.min(width, displayWidth(typingText)))));
    if (this.notice) {
      const room = width - (typingText ? displayWidth(typingText) + 3 : 0);
      if (room >= 8) {
        const t = blessed.escape(fitToWidth(toDrawable(this.notice.text), room));
        line += (typingText ? ' │ ' : '') + (this.notice.error ? paint(this.theme, this.theme.error, t) : t);
      }
    }
    this.panes.typing.setContent(line);

    const prompt = width >= 4 ? '> ' : '';
    const r = renderInput(this.input, Math.max(1, width - prompt.length - 1));
    this.panes.input.setContent(`{bold}${prompt}{/bold}${blessed.escape(r.text)}`);

    this.panes.status.setContent(
      blessed.escape(
        statusText(
          {
            hostPort: this.core.hostPort,
            connection: this.core.connection,
            fingerprint: this.core.serverFingerprint,
            peer: active ? this.vm.nameOf(active) : undefined,
            contactState: this.vm.activeState,
            group: this.vm.activeGroup && withDisplayNames(this.vm.activeGroup, this.names()),
            now: Date.now(),
          },
          layout.status.width,
        ),
      ),
    );

    this.dialogs.render();
    this.screen.render();
    const cursor = this.dialogs.open
      ? this.dialogs.cursor
      : { x: prompt.length + r.cursorCol, y: layout.input.top };
    if (cursor) {
      this.screen.program.cup(cursor.y, cursor.x);
      this.screen.program.showCursor();
    } else {
      this.screen.program.hideCursor();
    }
  }
}
