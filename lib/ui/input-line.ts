/**
 * The input line of the full-screen UI as a pure state machine: an edit in, the next state (and
 * maybe a line to submit) out. blessed's textbox has no cursor movement, drops pasted lines after
 * the first and cancels on Alt+Enter, so the screen draws this on a plain box instead.
 *
 * Also here: `PasteSplitter`, which cuts bracketed paste (`ESC[200~ … ESC[201~`, xterm's mode
 * 2004) out of the raw input bytes, so that a pasted newline is text, never an Enter.
 */
import { displayWidth, drawnUnits, sliceToWidth, toDrawable } from './width';

/** Lines remembered for Up / Down, as in a shell. Older ones are forgotten. */
export const INPUT_HISTORY_MAX = 100;

export interface InputState {
  readonly text: string;
  /** UTF-16 offset into `text`, always on a grapheme boundary. */
  readonly cursor: number;
  readonly history: readonly string[];
  /** Position in `history` while browsing it with Up / Down; `history.length` when not. */
  readonly historyIndex: number;
  /** What was being typed before browsing history began. */
  readonly draft: string;
  /** A multi-line paste waiting for the user to confirm it is one message. */
  readonly pendingPaste: string | undefined;
  /** What Ctrl+U, Ctrl+K or Ctrl+W deleted last, for Ctrl+Y. */
  readonly killed?: string;
  /** While Ctrl+R searches the lines sent before: what is searched for. */
  readonly searchQuery?: string;
}

export type InputEdit =
  | { readonly t: 'insert'; readonly text: string }
  | { readonly t: 'left' }
  | { readonly t: 'right' }
  | { readonly t: 'home' }
  | { readonly t: 'end' }
  | { readonly t: 'backspace' }
  | { readonly t: 'delete' }
  /** Ctrl+U: delete from the start of the line to the cursor. */
  | { readonly t: 'kill-before' }
  /** Ctrl+K: delete from the cursor to the end of the line. */
  | { readonly t: 'kill-after' }
  /** Ctrl+W: delete the word before the cursor. */
  | { readonly t: 'kill-word' }
  /** Ctrl+Y: put back what was killed last. */
  | { readonly t: 'yank' }
  /** Alt+B, Alt+F: a word back, forward. */
  | { readonly t: 'word-left' }
  | { readonly t: 'word-right' }
  /** Ctrl+R: the newest earlier line that contains what is typed (again: the one before). */
  | { readonly t: 'history-search' }
  /** Tab: complete the word before the cursor from `candidates` (names, /commands). */
  | { readonly t: 'complete'; readonly candidates: readonly string[] }
  | { readonly t: 'history-prev' }
  | { readonly t: 'history-next' }
  | { readonly t: 'submit' }
  /** Bracketed paste: one line is inserted, several lines wait for `paste-confirm`. */
  | { readonly t: 'paste'; readonly text: string }
  | { readonly t: 'paste-confirm' }
  | { readonly t: 'paste-cancel' }
  | { readonly t: 'clear' };

export interface InputResult {
  readonly state: InputState;
  /** A line to send or run, on `submit` or a confirmed paste. */
  readonly submitted?: string;
}

export function emptyInput(history: readonly string[] = []): InputState {
  return { text: '', cursor: 0, history, historyIndex: history.length, draft: '', pendingPaste: undefined };
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function prevBoundary(text: string, at: number): number {
  let last = 0;
  for (const { index } of graphemes.segment(text)) {
    if (index >= at) break;
    last = index;
  }
  return last;
}

function nextBoundary(text: string, at: number): number {
  for (const { index, segment } of graphemes.segment(text)) {
    if (index >= at) return index + segment.length;
  }
  return text.length;
}

function withText(s: InputState, text: string, cursor: number): InputState {
  return { ...s, text, cursor, historyIndex: s.history.length, searchQuery: undefined };
}

function remember(history: readonly string[], line: string): readonly string[] {
  if (line.trim() === '' || history[history.length - 1] === line) return history;
  return [...history, line].slice(-INPUT_HISTORY_MAX);
}

/** Newlines as `\n`, one trailing newline dropped (copying a line usually takes its end too). */
export function normalisePaste(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/\n$/, '');
}

export function applyInput(s: InputState, e: InputEdit): InputResult {
  const { text, cursor } = s;
  switch (e.t) {
    case 'insert': {
      // Typed text never carries a newline; a stray one (an unbracketed paste) becomes a space.
      const ins = e.text.replace(/\r\n?|\n/g, ' ');
      return { state: withText(s, text.slice(0, cursor) + ins + text.slice(cursor), cursor + ins.length) };
    }
    case 'left':
      return { state: { ...s, cursor: prevBoundary(text, cursor) } };
    case 'right':
      return { state: { ...s, cursor: nextBoundary(text, cursor) } };
    case 'home':
      return { state: { ...s, cursor: 0 } };
    case 'end':
      return { state: { ...s, cursor: text.length } };
    case 'backspace': {
      if (cursor === 0) return { state: s };
      const at = prevBoundary(text, cursor);
      return { state: withText(s, text.slice(0, at) + text.slice(cursor), at) };
    }
    case 'delete': {
      if (cursor >= text.length) return { state: s };
      return { state: withText(s, text.slice(0, cursor) + text.slice(nextBoundary(text, cursor)), cursor) };
    }
    case 'kill-before':
      return { state: { ...withText(s, text.slice(cursor), 0), killed: text.slice(0, cursor) } };
    case 'kill-after':
      return { state: { ...withText(s, text.slice(0, cursor), cursor), killed: text.slice(cursor) } };
    case 'kill-word': {
      const before = text.slice(0, cursor).replace(/\S+\s*$/, '');
      // Only spaces before the cursor: they go, as in readline.
      const cut = before.length === cursor ? text.slice(0, cursor).replace(/\s+$/, '') : before;
      return {
        state: {
          ...withText(s, cut + text.slice(cursor), cut.length),
          killed: text.slice(cut.length, cursor),
        },
      };
    }
    case 'history-search': {
      const q = s.searchQuery ?? text;
      const from = s.searchQuery === undefined ? s.history.length - 1 : s.historyIndex - 1;
      for (let i = from; i >= 0; i--) {
        const line = s.history[i];
        if (q !== '' && line.toLowerCase().includes(q.toLowerCase())) {
          const draft = s.historyIndex === s.history.length ? text : s.draft;
          return { state: { ...s, text: line, cursor: line.length, historyIndex: i, draft, searchQuery: q } };
        }
      }
      return { state: s };
    }
    case 'yank':
      return s.killed ? applyInput(s, { t: 'insert', text: s.killed }) : { state: s };
    case 'word-left': {
      const m = /\S+\s*$/.exec(text.slice(0, cursor));
      return { state: { ...s, cursor: m ? m.index : 0 } };
    }
    case 'word-right': {
      const m = /^\s*\S+/.exec(text.slice(cursor));
      return { state: { ...s, cursor: m ? cursor + m[0].length : text.length } };
    }
    case 'complete': {
      const m = /\S+$/.exec(text.slice(0, cursor));
      if (!m) return { state: s };
      const word = m[0];
      const lower = word.toLowerCase();
      const hits = e.candidates.filter((c) => c.toLowerCase().startsWith(lower));
      if (hits.length === 0) return { state: s };
      // One match: complete it (with ': ' for a name at the start of the line, else a space).
      // Several: complete their common prefix.
      let done = hits[0];
      if (hits.length > 1) {
        for (const h of hits)
          while (!h.toLowerCase().startsWith(done.toLowerCase())) done = done.slice(0, -1);
        if (done.length <= word.length) return { state: s };
      } else {
        done += m.index === 0 && !done.startsWith('/') ? ': ' : ' ';
      }
      const head = text.slice(0, m.index) + done;
      return { state: withText(s, head + text.slice(cursor), head.length) };
    }
    case 'history-prev': {
      if (s.historyIndex === 0) return { state: s };
      const draft = s.historyIndex === s.history.length ? text : s.draft;
      const line = s.history[s.historyIndex - 1];
      return { state: { ...s, text: line, cursor: line.length, historyIndex: s.historyIndex - 1, draft } };
    }
    case 'history-next': {
      if (s.historyIndex >= s.history.length) return { state: s };
      const i = s.historyIndex + 1;
      const line = i === s.history.length ? s.draft : s.history[i];
      return { state: { ...s, text: line, cursor: line.length, historyIndex: i } };
    }
    case 'submit': {
      if (text.trim() === '') return { state: withText(s, '', 0) };
      return { state: emptyInput(remember(s.history, text)), submitted: text };
    }
    case 'paste': {
      const pasted = normalisePaste(e.text);
      if (!pasted.includes('\n')) return applyInput(s, { t: 'insert', text: pasted });
      return { state: { ...s, pendingPaste: pasted } };
    }
    case 'paste-confirm': {
      if (s.pendingPaste === undefined) return { state: s };
      // The paste goes in at the cursor; the whole line, newlines included, is one message.
      const line = text.slice(0, cursor) + s.pendingPaste + text.slice(cursor);
      return { state: emptyInput(remember(s.history, line)), submitted: line };
    }
    case 'paste-cancel':
      return { state: { ...s, pendingPaste: undefined } };
    case 'clear':
      return { state: withText(s, '', 0) };
  }
}

export interface RenderedInput {
  /** Exactly `width` cells of drawable text. */
  readonly text: string;
  /** Cell of the cursor within `text`. */
  readonly cursorCol: number;
}

/**
 * The visible part of the line in `width` cells, scrolled sideways so that the cursor shows.
 * `mask` draws every character as `*` (the passphrase prompt).
 */
export function renderInput(s: InputState, width: number, mask = false): RenderedInput {
  if (width < 1) return { text: '', cursorCol: 0 };
  const shown = (t: string) => (mask ? '*'.repeat([...graphemes.segment(t)].length) : toDrawable(t));
  const before = shown(s.text.slice(0, s.cursor));
  const after = shown(s.text.slice(s.cursor));
  // Keep one cell for the cursor itself at the right edge.
  // From the cursor back, as many drawn characters as fit: linear in the line's length, so a long
  // pasted line costs one pass per keystroke.
  const cps = drawnUnits(before);
  let w = 0;
  let start = cps.length;
  while (start > 0) {
    const cw = displayWidth(cps[start - 1]);
    if (w + cw > width - 1) break;
    w += cw;
    start--;
  }
  const visibleBefore = cps.slice(start).join('');
  const col = displayWidth(visibleBefore);
  const rest = sliceToWidth(after, width - col);
  const line = visibleBefore + rest;
  return { text: line + ' '.repeat(width - displayWidth(line)), cursorCol: col };
}

// ---------------------------------------------------------------------------------------------
// Bracketed paste in the raw input

export const PASTE_START = '\x1b[200~';
export const PASTE_END = '\x1b[201~';
/**
 * Bytes kept of one paste. A message body is at most 16 KiB (PROTOCOL.md section 9); four times
 * that leaves room for multi-byte text and bounds the memory a runaway paste can take.
 */
export const PASTE_MAX_CHARS = 64 * 1024;

/** How long a possible marker start (a lone ESC) waits for the rest before it counts as keys. */
export const PASTE_MARKER_WAIT_MS = 25;

export type InputPiece =
  | { readonly t: 'keys'; readonly data: string }
  | { readonly t: 'paste'; readonly text: string; readonly truncated: boolean };

/** Longest suffix of `s` that is a proper prefix of `marker`: it may finish in the next chunk. */
function partialMarker(s: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, s.length); n > 0; n--) {
    if (marker.startsWith(s.slice(s.length - n))) return n;
  }
  return 0;
}

/** Splits raw terminal input into key bytes (for blessed) and whole pastes. */
export class PasteSplitter {
  private inPaste = false;
  private paste = '';
  private truncated = false;
  private held = '';

  /** True while the end of the input may be the start of a marker (see `flush`). */
  get holding(): boolean {
    return this.held !== '';
  }

  feed(chunk: string): InputPiece[] {
    const out: InputPiece[] = [];
    let data = this.held + chunk;
    this.held = '';
    while (data.length > 0) {
      const marker = this.inPaste ? PASTE_END : PASTE_START;
      const at = data.indexOf(marker);
      const upTo = at >= 0 ? at : data.length - partialMarker(data, marker);
      const piece = data.slice(0, upTo);
      if (this.inPaste) this.addPaste(piece);
      else if (piece !== '') out.push({ t: 'keys', data: piece });
      if (at < 0) {
        this.held = data.slice(upTo);
        break;
      }
      data = data.slice(at + marker.length);
      if (this.inPaste) {
        out.push({ t: 'paste', text: this.paste, truncated: this.truncated });
        this.paste = '';
        this.truncated = false;
      }
      this.inPaste = !this.inPaste;
    }
    return out;
  }

  /**
   * No more input came after a held partial marker: outside a paste it was keys after all (a
   * lone Escape is a prefix of ESC[200~). The terminal calls this after PASTE_MARKER_WAIT_MS.
   */
  flush(): InputPiece[] {
    if (this.inPaste || this.held === '') return [];
    const data = this.held;
    this.held = '';
    return [{ t: 'keys', data }];
  }

  private addPaste(piece: string): void {
    const room = PASTE_MAX_CHARS - this.paste.length;
    if (piece.length > room) this.truncated = true;
    this.paste += piece.slice(0, Math.max(0, room));
  }
}
