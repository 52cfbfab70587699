/**
 * The terminal: a blessed screen on the given streams, raw mode, bracketed paste, and the one
 * `restore()` that every exit path calls (quit, signal, crash). Raw input goes through
 * `PasteSplitter` before blessed sees it, so a pasted newline is never an Enter.
 */
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import blessed from 'neo-blessed';
import { PASTE_MARKER_WAIT_MS, PasteSplitter, type InputPiece } from '../input-line';
import type { EmojiMode } from '../width';
import { useOurWidths } from './blessed-width';
import { skipUnchangedElements } from './render-skip';

/** How long the emoji probe waits for the terminal's answer (over SSH it is a round trip). */
export const EMOJI_PROBE_MS = 1000;
const LATE_ANSWER_MS = 10000;

/** What the emoji probe draws, each at the top left and followed by a cursor position request. */
const EMOJI_PROBES = [
  '\u{1f44d}\u{1f3fd}',
  '\u{1f468}\u200d\u{1f469}\u200d\u{1f467}',
  '\u2764\ufe0f',
] as const;

/**
 * The emoji mode from the columns where the cursor was after each probe (column 1 + the cells
 * drawn): 👍🏽 in 4 cells is `separate`, in 2 `joined`, else (or no answer) `flatten`; 👨‍👩‍👧 in 2
 * cells adds `+zwj`, anything else (6 cells side by side, no answer) leaves ZWJ sequences flat;
 * ❤️ in 2 cells adds `+vs16`, in 1 (tmux 3.3a) or no answer drops VS16.
 */
export function emojiModeOf(toneCol?: number, zwjCol?: number, vs16Col?: number): EmojiMode {
  const tones = toneCol === 5 ? 'separate' : toneCol === 3 ? 'joined' : 'flatten';
  return `${tones}${zwjCol === 3 ? '+zwj' : ''}${vs16Col === 3 ? '+vs16' : ''}`;
}

/** xterm's bracketed paste mode (DECSET 2004). */
const PASTE_MODE_ON = '\x1b[?2004h';
const PASTE_MODE_OFF = '\x1b[?2004l';

export interface TerminalStreams {
  readonly input?: NodeJS.ReadableStream;
  readonly output?: NodeJS.WritableStream;
  /** The terminal type; `$TERM` when not given. */
  readonly term?: string;
}

/**
 * The terminal type blessed is told. blessed 0.2 cannot read the terminfo entries of tmux and
 * screen (`tmux-256color`, tmux's default, and `screen-256color`) and falls back to 8-colour
 * `xterm`, where grey is black (issue 11, defect 4). Those terminals speak xterm's sequences for
 * everything the UI draws, so a `*-256color` type is drawn as `xterm-256color`.
 */
export function blessedTerminal(term: string | undefined): string {
  if (!term || term === 'dumb') return 'xterm-256color';
  if (/^(tmux|screen)/.test(term)) return /256color|direct/.test(term) ? 'xterm-256color' : 'xterm';
  return term;
}

export interface Terminal {
  readonly screen: blessed.Widgets.Screen;
  /** A whole paste (between the bracketed-paste markers). */
  onPaste(fn: (text: string, truncated: boolean) => void): void;
  /** Leaves the alternate screen, shows the cursor, ends raw mode. Safe to call twice. */
  restore(): void;
  /**
   * Measures how the terminal draws an emoji with a skin tone, an emoji ZWJ sequence and a
   * text-style emoji with VS16 (defect 13): writes 👍🏽, 👨‍👩‍👧 and ❤️ at the top left, each time
   * asking where the cursor is
   * (DSR 6, the cursor position report); see `emojiModeOf`. No answer within `timeoutMs`:
   * `flatten`. The caller redraws after.
   */
  probeEmoji(timeoutMs?: number): Promise<EmojiMode>;
  /**
   * Gives the terminal to a program that runs to its end inside `fn` (the $EDITOR): normal
   * screen, cooked mode, no paste mode; then takes it back and redraws.
   */
  suspend<T>(fn: () => T): T;
}

type RawInput = NodeJS.ReadableStream & {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?: (on: boolean) => void;
};

export function openTerminal(streams: TerminalStreams): Terminal {
  useOurWidths();
  const input = (streams.input ?? process.stdin) as RawInput;
  const output = (streams.output ?? process.stdout) as NodeJS.WritableStream;
  const keys = new PassThrough();
  const splitter = new PasteSplitter();
  const decoder = new StringDecoder('utf8');
  let pasteHandler: (text: string, truncated: boolean) => void = () => undefined;

  const wasRaw = input.isRaw === true;
  if (input.isTTY && input.setRawMode) input.setRawMode(true);
  let wait: NodeJS.Timeout | undefined;
  const deliver = (pieces: InputPiece[]) => {
    for (const piece of pieces) {
      if (piece.t === 'keys') keys.write(piece.data);
      else pasteHandler(piece.text, piece.truncated);
    }
  };
  /** Waiting for cursor position reports: they are taken out of the input, never seen as keys. */
  let onReport: ((col: number) => void) | undefined;
  const onData = (chunk: Buffer | string) => {
    if (wait) clearTimeout(wait);
    wait = undefined;
    let text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    // The terminal's answer: ESC [ row ; col R (the probe's answers may come in one chunk).
    // eslint-disable-next-line no-control-regex -- ESC is what a report starts with
    const report = /\x1b\[\d+;(\d+)R/;
    for (let m = report.exec(text); onReport && m; m = report.exec(text)) {
      text = text.slice(0, m.index) + text.slice(m.index + m[0].length);
      onReport(Number(m[1]));
    }
    deliver(splitter.feed(text));
    if (splitter.holding) wait = setTimeout(() => deliver(splitter.flush()), PASTE_MARKER_WAIT_MS);
  };
  input.on('data', onData);
  input.resume();

  const screen = blessed.screen({
    input: keys as unknown as NodeJS.ReadableStream,
    output: output as NodeJS.WritableStream,
    terminal: blessedTerminal(streams.term ?? process.env.TERM),
    fullUnicode: true,
    forceUnicode: true,
    smartCSR: true,
    autoPadding: false,
    warnings: false,
    resizeTimeout: 30,
    title: 'ChatSecure',
  } as unknown as blessed.Widgets.IScreenOptions);
  // Draw borders as UTF-8 box characters, not through the terminal's alternate character set:
  // every terminal we support speaks UTF-8, and ACS is what breaks under tmux, mosh and some locales.
  (screen as unknown as { tput: { brokenACS: boolean } }).tput.brokenACS = true;
  // A keystroke redraws the input line, not every pane (render-skip.ts).
  skipUnchangedElements(screen);
  output.write(PASTE_MODE_ON);

  let restored = false;
  return {
    screen,
    probeEmoji(timeoutMs = EMOJI_PROBE_MS) {
      return new Promise<EmojiMode>((resolve) => {
        const cols: number[] = [];
        const timer = setTimeout(() => {
          answer();
          // An answer that comes late (a slow link) is still not a key press (CSI 1;5R would
          // read as Ctrl+F3): swallowed for a while longer.
          let late = EMOJI_PROBES.length - cols.length;
          onReport = () => {
            if (--late <= 0) onReport = undefined;
          };
          setTimeout(() => (onReport = undefined), LATE_ANSWER_MS).unref();
        }, timeoutMs);
        timer.unref();
        const answer = () => {
          clearTimeout(timer);
          onReport = undefined;
          resolve(emojiModeOf(...cols));
        };
        onReport = (col) => {
          cols.push(col);
          if (cols.length === EMOJI_PROBES.length) answer();
        };
        output.write(EMOJI_PROBES.map((p) => `\x1b[1;1H${p}\x1b[6n`).join(''));
      });
    },
    suspend(fn) {
      output.write(PASTE_MODE_OFF + '\x1b[?1049l\x1b[?25h');
      if (input.isTTY && input.setRawMode) input.setRawMode(false);
      try {
        return fn();
      } finally {
        if (input.isTTY && input.setRawMode) input.setRawMode(true);
        output.write('\x1b[?1049h' + PASTE_MODE_ON);
        screen.realloc();
      }
    },
    onPaste(fn) {
      pasteHandler = fn;
    },
    restore() {
      if (restored) return;
      restored = true;
      output.write(PASTE_MODE_OFF);
      try {
        screen.destroy();
      } finally {
        if (wait) clearTimeout(wait);
        input.removeListener('data', onData);
        if (input.isTTY && input.setRawMode) input.setRawMode(wasRaw);
        input.pause();
        keys.end();
      }
    },
  };
}
