/**
 * A terminal for UI tests: blessed writes to a fake TTY stream, which feeds @xterm/headless,
 * a real terminal emulator; tests read its screen buffer and type into a fake input stream.
 * The emulator counts widths as a modern terminal does (Unicode 11+: emoji and CJK take two
 * cells), through a Unicode provider built on lib/ui/width.ts's `codePointWidth`.
 */
import { PassThrough, Writable } from 'node:stream';
import { Terminal } from '@xterm/headless';
import { codePointWidth, isSkinTone } from '../../lib/ui/width';

export class FakeTerminal {
  readonly term: Terminal;
  readonly input = new PassThrough();
  readonly output: Writable & { columns: number; rows: number; isTTY: boolean };
  /** Everything written, to look for BEL or mode switches. */
  written = '';
  private pending = 0;

  /** OSC sequences the terminal acted on (title, clipboard, notifications), as `number;data`. */
  readonly oscs: string[] = [];

  /**
   * `lineOutput`: a program that writes `\n` as a line mode does (the tty's onlcr).
   * `answers`: the terminal's replies (the cursor position report) go back to the input.
   * `joinSkinTones`: a skin tone joins its emoji's cell, as kitty or WezTerm draw it; without
   * it the tone is a picture of its own (2 cells), as tmux 3.3a draws it.
   */
  constructor(
    cols = 100,
    rows = 30,
    opts: { lineOutput?: boolean; answers?: boolean; joinSkinTones?: boolean } = {},
  ) {
    this.term = new Terminal({
      cols,
      rows,
      allowProposedApi: true,
      scrollback: opts.lineOutput ? 1000 : 0,
      convertEol: opts.lineOutput === true,
    });
    for (const n of [0, 1, 2, 9, 52, 777]) {
      this.term.parser.registerOscHandler(n, (data) => {
        this.oscs.push(`${n};${data}`);
        return false;
      });
    }
    const width = (cp: number) => (opts.joinSkinTones && isSkinTone(cp) ? 0 : codePointWidth(cp));
    if (opts.answers) this.term.onData((d) => this.input.write(d));
    this.term.unicode.register({
      version: 'chatsecure',
      wcwidth: (cp) => width(cp),
      // As xterm's own providers: a zero-width code point joins the previous cell.
      charProperties: (cp, preceding) => {
        let w: number = width(cp);
        const join = w === 0 && preceding !== 0;
        if (join) w = Math.max(w, (preceding >> 1) & 3);
        return (w << 1) | (join ? 1 : 0);
      },
    });
    this.term.unicode.activeVersion = 'chatsecure';
    const out = new Writable({
      decodeStrings: false,
      write: (chunk: Buffer | string, _enc, cb) => {
        const s = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
        this.written += s;
        this.pending++;
        this.term.write(s, () => this.pending--);
        cb();
      },
    });
    this.output = Object.assign(out, { columns: cols, rows, isTTY: true });
  }

  type(s: string): void {
    this.input.write(s);
  }

  /** Bracketed paste, as a terminal sends it. */
  paste(text: string): void {
    this.input.write(`\x1b[200~${text}\x1b[201~`);
  }

  resize(cols: number, rows: number): void {
    this.output.columns = cols;
    this.output.rows = rows;
    this.term.resize(cols, rows);
    this.output.emit('resize');
  }

  /** The screen as text lines (wide characters once, their second cell dropped). */
  lines(): string[] {
    const buf = this.term.buffer.active;
    const out: string[] = [];
    for (let y = 0; y < this.term.rows; y++)
      out.push(buf.getLine(buf.viewportY + y)?.translateToString(true) ?? '');
    return out;
  }

  /** Every line written so far, scrolled off or not (line mode). */
  allLines(): string[] {
    const buf = this.term.buffer.active;
    const out: string[] = [];
    for (let y = 0; y < buf.length; y++) out.push(buf.getLine(y)?.translateToString(true) ?? '');
    return out;
  }

  text(): string {
    return this.lines().join('\n');
  }

  /** The character in each cell of row `y` ('' for the second cell of a wide character). */
  cells(y: number): string[] {
    const line = this.term.buffer.active.getLine(this.term.buffer.active.viewportY + y);
    const out: string[] = [];
    for (let x = 0; x < this.term.cols; x++) out.push(line?.getCell(x)?.getChars() ?? '');
    return out;
  }

  async settle(): Promise<void> {
    for (let i = 0; i < 200 && this.pending > 0; i++) await new Promise((r) => setTimeout(r, 5));
  }

  async waitFor(pred: (screen: string) => boolean, what: string, timeoutMs = 8000): Promise<string> {
    const start = Date.now();
    for (;;) {
      await this.settle();
      const s = this.text();
      if (pred(s)) return s;
      if (Date.now() - start > timeoutMs) throw new Error(`screen never showed ${what}:\n${s}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  waitForText(needle: string | RegExp, timeoutMs?: number): Promise<string> {
    return this.waitFor(
      (s) => (typeof needle === 'string' ? s.includes(needle) : needle.test(s)),
      String(needle),
      timeoutMs,
    );
  }

  dispose(): void {
    this.input.end();
    this.term.dispose();
  }
}

/** Keys as a terminal sends them. */
export const KEY = {
  enter: '\r',
  f1: '\x1bOP',
  f2: '\x1bOQ',
  f10: '\x1b[21~',
  f12: '\x1b[24~',
  escape: '\x1b',
  ctrlN: '\x0e',
  ctrlP: '\x10',
  ctrlQ: '\x11',
  ctrlA: '\x01',
  ctrlE: '\x05',
  ctrlU: '\x15',
  ctrlK: '\x0b',
  ctrlW: '\x17',
  left: '\x1b[D',
  right: '\x1b[C',
  up: '\x1b[A',
  down: '\x1b[B',
  home: '\x1b[H',
  end: '\x1b[F',
  pageUp: '\x1b[5~',
  pageDown: '\x1b[6~',
  backspace: '\x7f',
  alt: (c: string) => `\x1b${c}`,
};
