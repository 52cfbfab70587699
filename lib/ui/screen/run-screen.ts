/**
 * The full-screen UI (issue 5): `runScreen(core, opts)` opens the screen over a `ChatCore`, and
 * resolves with the exit status once the user quits, with the terminal restored.
 *
 * Map for contributors:
 * - a key:      add it to KEY_BINDINGS in keys.ts (F1 lists it from there), then handle its
 *               action in `ScreenApp.onAction` below (the switch is exhaustive).
 * - a command:  lib/ui/commands.ts (`parseCommand`, COMMAND_HELP), then `ScreenApp.onCommand`.
 * - a dialog:   dialogs.ts (`question`, `viewer`, `prompt`).
 * - drawing:    layout.ts (where), sidebar.ts, conversation-view.ts, status-line.ts (what);
 *               widths in ../width.ts, and blessed-width.ts makes blessed agree with them.
 * - the line:   ../input-line.ts (editing, history, bracketed paste) and EDIT_KEYS in keys.ts.
 * - terminal:   terminal.ts (raw mode, paste mode, restore on every exit path).
 * The UI never touches a socket or a key: it calls `ChatCore` and draws its events (DESIGN.md).
 */
import blessed from 'neo-blessed';
import { canonName } from '../../names';
import type { ChatMessage, ClientEvents, ContactInfo, ContactState } from '../../client/types';
import { COMMAND_HELP, parseCommand, type Command } from '../commands';
import { applyInput, emptyInput, renderInput, type InputEdit, type InputState } from '../input-line';
import { fitToWidth, toDrawable } from '../width';
import { messageLines, visibleWindow } from './conversation-view';
import type { ChatCore } from './core';
import { Dialogs, type KeyPress } from './dialogs';
import { actionForKey, editForKey, keyHelpRows, type KeyAction } from './keys';
import { applyLayout, computeLayout, createPanes, innerSize, type Panes } from './layout';
import { readLogForViewer } from './log-viewer';
import { sidebarLines } from './sidebar';
import { statusText } from './status-line';
import { openTerminal, type Terminal, type TerminalStreams } from './terminal';

export type { ChatCore } from './core';

export interface ScreenOptions extends TerminalStreams {
  /** Ring the bell on a message in a conversation that is not on screen (`--no-bell`: false). */
  readonly bell: boolean;
  /** Shown in the help; the core itself decides whether receipts are sent. */
  readonly readReceipts: boolean;
  /** Runs before the terminal is restored on a crash: flush the log here. */
  readonly onExit?: () => void | Promise<void>;
}

/** Exit statuses: 0 quit by the user; 1 a crash; 128+n a signal, as shells report it. */
export const EXIT_OK = 0;
export const EXIT_CRASH = 1;
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
/** How long a crash waits for `onExit` (the log flush) before restoring the terminal anyway. */
export const CRASH_FLUSH_MS = 2000;
/** Messages loaded for the open conversation: more than any screen shows, bounded for speed. */
export const HISTORY_SHOWN = 500;

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
  private contacts: ContactInfo[] = [];
  /** Canonical name of the open conversation. */
  private active: string | undefined;
  private readonly typing = new Map<string, string>();
  private typingSentTo: string | undefined;
  /** Lines scrolled up from the newest (0: pinned to the bottom). */
  private scroll = 0;
  private input: InputState = emptyInput();
  private notice: { text: string; error: boolean } | undefined;
  private renderQueued = false;
  private countdown: NodeJS.Timeout | undefined;
  private finished = false;
  private readonly detach: (() => void)[] = [];
  /** Display name of a conversation opened before the core lists it as a contact. */
  private pendingName: string | undefined;

  constructor(
    private readonly core: ChatCore,
    private readonly opts: ScreenOptions,
    private readonly terminal: Terminal,
    private readonly done: (status: number) => void,
  ) {
    this.screen = terminal.screen;
    this.panes = createPanes(this.screen);
    this.dialogs = new Dialogs(this.screen, () => this.queueRender());
  }

  start(): void {
    this.listen('state', () => {
      this.tickCountdown();
      this.queueRender();
    });
    this.listen('presence', () => this.refreshContacts());
    this.listen('message', (m) => this.onMessage(m));
    this.listen('receipt', (r) => {
      if (canonName(r.peer) === this.active) this.queueRender();
    });
    this.listen('typing', (t) => {
      if (t.on) this.typing.set(canonName(t.peer), t.peerName);
      else this.typing.delete(canonName(t.peer));
      this.queueRender();
    });
    this.listen('contact', (c) => this.onContact(c.name, c.state));
    this.listen('error', (e) => this.say(e.message, true));
    this.listen('server-unknown', (s) => void this.askServerTrust(s.hostPort, s.fingerprint));

    this.screen.on(
      'keypress',
      (ch: string | undefined, key: { full?: string; name?: string; ctrl?: boolean; meta?: boolean }) =>
        this.onKey(ch, key),
    );
    this.screen.on('resize', () => this.render());
    this.terminal.onPaste((text, truncated) => this.onPaste(text, truncated));
    this.installExitHandlers();
    this.refreshContacts();
    this.render();
    this.core.start();
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
    process.stderr.write(`chatsecure: the screen crashed: ${msg}\n`);
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
    if (this.countdown) clearInterval(this.countdown);
    for (const d of this.detach.splice(0)) d();
    this.dialogs.closeAll();
    this.terminal.restore();
  }

  // -------------------------------------------------------------------------------------------
  // Core events

  private refreshContacts(): void {
    this.contacts = this.safely(() => this.core.contacts()) ?? this.contacts;
    this.queueRender();
  }

  private onMessage(m: ChatMessage): void {
    const peer = canonName(m.peer);
    this.typing.delete(peer);
    if (peer === this.active) {
      this.safely(() => this.core.markShown(peer));
    } else if (this.opts.bell) {
      this.screen.program.bell();
    }
    this.refreshContacts();
  }

  private onContact(name: string, state: ContactState): void {
    this.refreshContacts();
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

  // -------------------------------------------------------------------------------------------
  // Keys

  private onKey(
    ch: string | undefined,
    key: { full?: string; name?: string; ctrl?: boolean; meta?: boolean },
  ): void {
    if (this.finished) return;
    const full = key.full ?? key.name ?? '';
    const press: KeyPress = { ch, full };
    if (this.dialogs.open) {
      this.dialogs.key(press);
      return;
    }
    const action = actionForKey(full);
    if (action) {
      this.onAction(action);
      return;
    }
    if (full === 'C-c' || full === 'escape') {
      if (full === 'C-c' && this.input.text === '') this.say('To quit, press F10 or Ctrl+Q, or type /exit.');
      else this.notice = undefined;
      if (full === 'C-c') this.edit({ t: 'clear' });
      this.queueRender();
      return;
    }
    const edit = editForKey(full);
    if (edit) {
      this.edit(edit);
      return;
    }
    if (ch && !key.ctrl && !key.meta && !/^\p{Cc}$/u.test(ch)) this.edit({ t: 'insert', text: ch });
  }

  private onAction(a: KeyAction): void {
    switch (a.t) {
      case 'next-conversation':
      case 'prev-conversation': {
        if (this.contacts.length === 0) return;
        const i = this.contacts.findIndex((c) => c.canon === this.active);
        const step = a.t === 'next-conversation' ? 1 : -1;
        const next =
          i < 0
            ? step > 0
              ? 0
              : this.contacts.length - 1
            : (i + step + this.contacts.length) % this.contacts.length;
        this.open(this.contacts[next].canon);
        return;
      }
      case 'goto-conversation': {
        const c = this.contacts[a.index];
        if (c) this.open(c.canon);
        return;
      }
      case 'next-unread': {
        const i = this.contacts.findIndex((c) => c.canon === this.active);
        const n = this.contacts.length;
        for (let k = 1; k <= n; k++) {
          const c = this.contacts[(i + k + n) % n];
          if (c.unread > 0 && c.canon !== this.active) {
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
        this.scroll = Math.max(0, this.scroll + (a.t === 'page-up' ? page : -page));
        this.queueRender();
        return;
      }
      case 'help':
        void this.dialogs.viewer('Help', this.helpText());
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
    }
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
    const to = this.active ? this.nameOf(this.active) : 'the conversation';
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
    const want =
      this.active !== undefined && text.trim() !== '' && !text.startsWith('/') ? this.active : undefined;
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
    this.notice = undefined;
    this.onCommand(parseCommand(line));
  }

  private onCommand(c: Command): void {
    switch (c.action) {
      case 'send':
        this.send(c.to, c.body);
        return;
      case 'say':
        if (!this.active) {
          this.say('No conversation open: pick one with Ctrl+N or Alt+1..9, or type NAME: text.', true);
          return;
        }
        this.send(this.nameOf(this.active), c.body);
        return;
      case 'help':
        void this.dialogs.viewer('Help', this.helpText());
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
      case 'accept':
        if (this.safely(() => this.core.acceptIdentity(c.user), true) !== undefined) {
          this.say(`${c.user}'s new identity accepted. Compare the safety number again: /verify ${c.user}`);
        }
        return;
      case 'history':
        this.open(canonName(c.user), c.user);
        return;
      case 'contacts': {
        const rows = this.contacts.map((x) => `${x.online ? '●' : '○'} ${x.name.padEnd(20)} ${x.state}`);
        void this.dialogs.viewer('Contacts', rows.length ? rows.join('\n') : 'No contacts yet.');
        return;
      }
      case 'empty':
        return;
      case 'invalid':
        this.say(c.message, true);
        return;
    }
  }

  private send(to: string, body: string): void {
    const sent = this.safely(() => this.core.send(to, body), true);
    if (sent === undefined) return;
    this.typingSentTo = undefined; // the message ends the typing notice on the other side
    this.open(canonName(sent.peer), sent.peerName);
  }

  private showSafetyNumber(user: string): void {
    const n = this.safely(() => this.core.safetyNumber(user), true);
    if (n === undefined) return;
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
    if (this.active !== canon) this.scroll = 0;
    this.active = canon;
    this.updateTyping();
    this.safely(() => this.core.markShown(canon));
    this.refreshContacts();
    if (displayName && !this.contacts.some((c) => c.canon === canon)) this.pendingName = displayName;
  }

  private nameOf(canon: string): string {
    return this.contacts.find((c) => c.canon === canon)?.name ?? this.pendingName ?? canon;
  }

  private say(text: string, error = false): void {
    this.notice = { text, error };
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

  private helpText(): string {
    const keys = keyHelpRows();
    const w = Math.max(...keys.map(([k]) => k.length), ...COMMAND_HELP.map(([c]) => c.length));
    const fmt = (rows: readonly (readonly [string, string])[]) =>
      rows.map(([k, d]) => `  ${k.padEnd(w)}  ${d}`).join('\n');
    return (
      `Keys\n${fmt(keys)}\n\nCommands (type them in the input line)\n${fmt(COMMAND_HELP)}\n\n` +
      `Marks\n  your messages: sending → sent (or queued for an offline contact) → delivered → read\n` +
      `  contacts: ● online  ○ offline  ✓ verified  ! safety number changed  N unread\n` +
      `  read receipts: ${this.opts.readReceipts ? 'on' : 'off (--no-read-receipts)'}; bell: ${this.opts.bell ? 'on' : 'off'}`
    );
  }

  // -------------------------------------------------------------------------------------------
  // Drawing

  private layout() {
    return computeLayout(Number(this.screen.width), Number(this.screen.height));
  }

  private queueRender(): void {
    if (this.renderQueued || this.finished) return;
    this.renderQueued = true;
    setImmediate(() => {
      this.renderQueued = false;
      if (!this.finished) this.render();
    });
  }

  private render(): void {
    if (this.finished) return;
    const layout = this.layout();
    applyLayout(this.panes, layout);
    const activeInfo = this.contacts.find((c) => c.canon === this.active);

    if (layout.sidebar) {
      const { width, height } = innerSize(layout.sidebar);
      const lines = sidebarLines(this.contacts, this.active, width);
      const at = Math.max(
        0,
        this.contacts.findIndex((c) => c.canon === this.active),
      );
      const first = Math.max(0, Math.min(at - height + 1, lines.length - height));
      this.panes.sidebar.setContent(
        lines.length ? lines.slice(first, first + height).join('\n') : '{gray-fg}no contacts yet{/gray-fg}',
      );
    }

    const conv = innerSize(layout.conversation);
    if (this.active) {
      const history = this.safely(() => this.core.history(this.active as string, HISTORY_SHOWN)) ?? [];
      const all = messageLines(history as ChatMessage[], this.core.name, conv.width);
      const win = visibleWindow(all, conv.height, this.scroll);
      this.scroll = win.fromBottom;
      const name = toDrawable(this.nameOf(this.active));
      this.panes.conversation.setLabel(
        ` ${name}${this.scroll > 0 ? ` (${this.scroll} lines up, PgDn)` : ''} `,
      );
      const pad = Math.max(0, conv.height - win.lines.length);
      this.panes.conversation.setContent('\n'.repeat(pad) + win.lines.map((l) => l.tagged).join('\n'));
    } else {
      this.panes.conversation.setLabel(` ${toDrawable(this.core.name)} `);
      this.panes.conversation.setContent(
        blessed.escape(
          'No conversation open.\nCtrl+N / Alt+1..9 opens one; "NAME: text" writes to anyone.\nF1 for help.',
        ),
      );
    }

    const width = layout.input.width;
    let line: string;
    if (this.notice) {
      const t = blessed.escape(fitToWidth(toDrawable(this.notice.text), width));
      line = this.notice.error ? `{red-fg}${t}{/red-fg}` : t;
    } else {
      const who = this.active ? this.typing.get(this.active) : undefined;
      line = who ? blessed.escape(fitToWidth(`${toDrawable(who)} is typing…`, width)) : '';
    }
    this.panes.typing.setContent(line);

    const prompt = '> ';
    const r = renderInput(this.input, Math.max(1, width - prompt.length));
    this.panes.input.setContent(`{bold}${prompt}{/bold}${blessed.escape(r.text)}`);

    this.panes.status.setContent(
      blessed.escape(
        statusText(
          {
            hostPort: this.core.hostPort,
            connection: this.core.connection,
            fingerprint: this.core.serverFingerprint,
            peer: this.active ? this.nameOf(this.active) : undefined,
            contactState: activeInfo?.state,
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
