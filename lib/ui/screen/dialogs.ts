/**
 * Dialogs: modal boxes over the screen, newest on top. Three kinds:
 * - `question`: a text and lettered choices (the unknown relay key, the changed safety number,
 *   the multi-line paste);
 * - `viewer`: scrollable lines (F1 help, F2 list, F12 log, /verify);
 * - `prompt`: one line typed, optionally masked (the passphrase).
 * While a dialog is open it gets every key; the screen's own keys wait.
 */
import blessed from 'neo-blessed';
import { applyInput, emptyInput, renderInput, type InputState } from '../input-line';
import { displayWidth, fitToWidth, toDrawable, wrapToWidth } from '../width';
import { drawPreSized } from './blessed-width';
import { editForKey } from './keys';

export interface Choice<T> {
  /** The letter that picks it. */
  readonly key: string;
  readonly label: string;
  readonly value: T;
}

export interface KeyPress {
  readonly ch: string | undefined;
  readonly full: string;
}

interface QuestionDialog {
  readonly kind: 'question';
  readonly title: string;
  readonly text: string;
  readonly choices: readonly Choice<unknown>[];
  /** What Escape answers; undefined: Escape does nothing (the question must be answered). */
  readonly onEscape: { value: unknown } | undefined;
  readonly resolve: (v: unknown) => void;
}

interface ViewerDialog {
  readonly kind: 'viewer';
  readonly title: string;
  readonly text: string;
  /** First shown line; `Infinity` starts at the end (the log). */
  top: number;
  /** As wide as the screen allows (the help), not a reading width. */
  readonly wide: boolean;
  readonly resolve: () => void;
}

interface PromptDialog {
  readonly kind: 'prompt';
  readonly title: string;
  readonly text: string;
  readonly mask: boolean;
  input: InputState;
  readonly resolve: (v: string | undefined) => void;
}

type Dialog = QuestionDialog | ViewerDialog | PromptDialog;

/** Widest a dialog gets: a comfortable reading width. */
const DIALOG_MAX_WIDTH = 78;
/** The help in two columns. */
const WIDE_MAX_WIDTH = 118;

/**
 * Wraps each line to `width`; a line's further rows keep its indent, and for a table row
 * (`  key   description`) the description's column, as in a man page (defect 10).
 */
export function wrapHanging(text: string, width: number): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (displayWidth(line) <= width) {
      out.push(line);
      continue;
    }
    const m = /^(\s*\S(?:.*?\S)?\s{2,})(?=\S)/.exec(line) ?? /^\s*/.exec(line);
    const head = m ? m[0] : '';
    const indent = displayWidth(head);
    if (indent === 0 || indent >= width / 2) {
      out.push(...wrapToWidth(line, width));
      continue;
    }
    const rows = wrapToWidth(line.slice(head.length), width - indent);
    out.push(head + rows[0], ...rows.slice(1).map((r) => ' '.repeat(indent) + r));
  }
  return out;
}

export class Dialogs {
  private readonly stack: Dialog[] = [];
  private readonly box: blessed.Widgets.BoxElement;
  /** Where the terminal cursor goes while a prompt is open (screen cells). */
  cursor: { x: number; y: number } | undefined;

  constructor(
    private readonly screen: blessed.Widgets.Screen,
    private readonly changed: () => void,
  ) {
    this.box = blessed.box({
      parent: screen,
      hidden: true,
      tags: true,
      wrap: false,
      border: { type: 'line' },
      style: { border: { fg: 'yellow' }, label: { bold: true } },
    });
    drawPreSized(this.box);
  }

  get open(): boolean {
    return this.stack.length > 0;
  }

  /** The kinds open, top last (tests and the controller ask). */
  get titles(): string[] {
    return this.stack.map((d) => d.title);
  }

  question<T>(
    title: string,
    text: string,
    choices: readonly Choice<T>[],
    onEscape?: { value: T },
  ): Promise<T> {
    return new Promise((resolve) => {
      this.push({
        kind: 'question',
        title,
        text,
        choices,
        onEscape,
        resolve: resolve as (v: unknown) => void,
      });
    });
  }

  viewer(title: string, text: string, atEnd = false, wide = false): Promise<void> {
    return new Promise((resolve) =>
      this.push({ kind: 'viewer', title, text, top: atEnd ? Infinity : 0, wide, resolve }),
    );
  }

  prompt(title: string, text: string, mask: boolean): Promise<string | undefined> {
    return new Promise((resolve) =>
      this.push({ kind: 'prompt', title, text, mask, input: emptyInput(), resolve }),
    );
  }

  /** Closes every dialog (quitting): questions get their Escape answer or stay unanswered. */
  closeAll(): void {
    while (this.stack.length) {
      const d = this.stack.pop() as Dialog;
      if (d.kind === 'viewer') d.resolve();
      else if (d.kind === 'prompt') d.resolve(undefined);
      else if (d.onEscape) d.resolve(d.onEscape.value);
    }
    this.render();
  }

  private push(d: Dialog): void {
    this.stack.push(d);
    this.changed();
  }

  private close(): Dialog {
    const d = this.stack.pop() as Dialog;
    this.changed();
    return d;
  }

  /** A key while a dialog is open. */
  key(k: KeyPress): void {
    const d = this.stack[this.stack.length - 1];
    if (!d) return;
    switch (d.kind) {
      case 'question': {
        if (k.full === 'escape' && d.onEscape) {
          this.close();
          d.resolve(d.onEscape.value);
          return;
        }
        const c = d.choices.find((c) => c.key.toLowerCase() === (k.ch ?? '').toLowerCase());
        if (c) {
          this.close();
          d.resolve(c.value);
        }
        return;
      }
      case 'viewer': {
        const page = Math.max(1, this.innerHeight() - 1);
        const scroll: Record<string, number> = {
          up: -1,
          down: 1,
          pageup: -page,
          pagedown: page,
          k: -1,
          j: 1,
        };
        if (k.full in scroll) d.top = Math.max(0, this.clampTop(d) + scroll[k.full]);
        else if (k.full === 'home' || k.full === 'g') d.top = 0;
        else if (k.full === 'end' || k.full === 'S-g') d.top = Infinity;
        else if (['escape', 'q', 'return', 'f1', 'f2', 'f10', 'f12', 'C-q'].includes(k.full)) {
          this.close();
          d.resolve();
          return;
        }
        this.changed();
        return;
      }
      case 'prompt': {
        if (k.full === 'escape') {
          this.close();
          d.resolve(undefined);
          return;
        }
        if (k.full === 'return') {
          this.close();
          d.resolve(d.input.text);
          return;
        }
        if (k.full === 'up' || k.full === 'down') return;
        const edit = editForKey(k.full);
        if (edit) d.input = applyInput(d.input, edit).state;
        else if (k.ch && !/^\p{Cc}$/u.test(k.ch))
          d.input = applyInput(d.input, { t: 'insert', text: k.ch }).state;
        this.changed();
        return;
      }
    }
  }

  /** A paste while a dialog is open: only a prompt takes it, as one line. */
  paste(text: string): void {
    const d = this.stack[this.stack.length - 1];
    if (d?.kind === 'prompt') {
      d.input = applyInput(d.input, { t: 'insert', text: text.replace(/\r?\n$/, '') }).state;
      this.changed();
    }
  }

  private dims(): { width: number; height: number; cols: number; rows: number } {
    const cols = Number(this.screen.width);
    const rows = Number(this.screen.height);
    const top = this.stack[this.stack.length - 1];
    const max = top?.kind === 'viewer' && top.wide ? WIDE_MAX_WIDTH : DIALOG_MAX_WIDTH;
    return {
      cols,
      rows,
      width: Math.max(10, Math.min(cols - 2, max)),
      height: Math.max(3, rows - 2),
    };
  }

  private innerHeight(): number {
    return Math.max(1, Number(this.box.height) - 2);
  }

  private clampTop(d: ViewerDialog): number {
    const { width, height } = this.dims();
    const lines = wrapHanging(toDrawable(d.text, true), width - 2).length;
    return Math.min(d.top, Math.max(0, lines - (height - 2)));
  }

  /** Draws the top dialog (or hides the box). Called before every screen render. */
  render(): void {
    const d = this.stack[this.stack.length - 1];
    this.cursor = undefined;
    if (!d) {
      this.box.hide();
      return;
    }
    const { cols, rows, width, height: maxHeight } = this.dims();
    const inner = width - 2;
    let body = wrapHanging(toDrawable(d.text, true), inner);
    let footer: string[] = [];
    if (d.kind === 'question') {
      footer = wrapToWidth(toDrawable(d.choices.map((c) => `[${c.key}] ${c.label}`).join('   ')), inner);
    } else if (d.kind === 'viewer') {
      footer = [fitToWidth('↑↓ PgUp PgDn scroll, Esc or q closes', inner)];
    }
    const promptRows = d.kind === 'prompt' ? 1 : 0;
    const wanted = body.length + (footer.length ? footer.length + 1 : 0) + promptRows + 2;
    const height = Math.min(maxHeight, wanted);
    const room = Math.max(1, height - 2 - (footer.length ? footer.length + 1 : 0) - promptRows);
    if (d.kind === 'viewer') {
      d.top = Math.min(d.top, Math.max(0, body.length - room));
      body = body.slice(d.top, d.top + room);
    } else if (body.length > room) {
      // Keep the end of a question (its last lines say what to do) when the screen is tiny.
      body = body.slice(body.length - room);
    }
    const lines = body.map((l) => blessed.escape(l));
    const left = Math.max(0, Math.floor((cols - width) / 2));
    const top = Math.max(0, Math.floor((rows - height) / 2));
    if (d.kind === 'prompt') {
      const r = renderInput(d.input, inner, d.mask);
      lines.push(`{underline}${blessed.escape(r.text)}{/underline}`);
      this.cursor = { x: left + 1 + r.cursorCol, y: top + lines.length };
    }
    if (footer.length) lines.push('', ...footer.map((l) => `{bold}${blessed.escape(l)}{/bold}`));
    this.box.left = left;
    this.box.top = top;
    this.box.width = width;
    this.box.height = height;
    // A title can hold a peer's name (a group's): escaped, so that it is never read as markup.
    this.box.setLabel(blessed.escape(` ${toDrawable(d.title).slice(0, Math.max(1, inner - 2))} `));
    this.box.setContent(lines.join('\n'));
    this.box.show();
    this.box.setFront();
  }
}
