/**
 * Keys: one table from blessed key names to actions. F1's help is generated from it, so a key
 * added here is documented there. Keys that edit the input line map to `InputEdit`s.
 * Bindings follow weechat, irssi and gomuks where people already know them (issue 5).
 */
import type { InputEdit } from '../input-line';

export type KeyAction =
  | { readonly t: 'next-conversation' }
  | { readonly t: 'prev-conversation' }
  /** Alt+1..9: the N-th contact in the sidebar (0-based here). */
  | { readonly t: 'goto-conversation'; readonly index: number }
  | { readonly t: 'next-unread' }
  | { readonly t: 'page-up' }
  | { readonly t: 'page-down' }
  | { readonly t: 'help' }
  | { readonly t: 'who' }
  | { readonly t: 'quit' }
  | { readonly t: 'redraw' }
  | { readonly t: 'log-viewer' }
  /** Hands the line to $EDITOR (Alt+E). */
  | { readonly t: 'compose' };

export interface KeyBinding {
  /** blessed's full key names (`C-n`, `M-1`, `f1`). */
  readonly keys: readonly string[];
  /** How the help shows it. */
  readonly label: string;
  readonly action: KeyAction;
  readonly help: string;
}

const altDigits: KeyBinding[] = Array.from({ length: 9 }, (_, i) => ({
  keys: [`M-${i + 1}`],
  label: `Alt+${i + 1}`,
  action: { t: 'goto-conversation', index: i },
  help: i === 0 ? 'open the conversation with that number (Alt+1 … Alt+9)' : '',
}));

export const KEY_BINDINGS: readonly KeyBinding[] = [
  { keys: ['C-n'], label: 'Ctrl+N', action: { t: 'next-conversation' }, help: 'next conversation' },
  { keys: ['C-p'], label: 'Ctrl+P', action: { t: 'prev-conversation' }, help: 'previous conversation' },
  ...altDigits,
  {
    keys: ['M-a'],
    label: 'Alt+A',
    action: { t: 'next-unread' },
    help: 'jump to the next conversation with unread messages',
  },
  { keys: ['pageup'], label: 'PgUp', action: { t: 'page-up' }, help: 'scroll the conversation up' },
  {
    keys: ['pagedown'],
    label: 'PgDn',
    action: { t: 'page-down' },
    help: 'scroll down (back to the newest line)',
  },
  { keys: ['f1'], label: 'F1', action: { t: 'help' }, help: 'this help' },
  { keys: ['f2'], label: 'F2', action: { t: 'who' }, help: 'who is registered and who is online (/list)' },
  { keys: ['f12'], label: 'F12', action: { t: 'log-viewer' }, help: "this client's log file" },
  { keys: ['M-e'], label: 'Alt+E', action: { t: 'compose' }, help: 'write the message in $EDITOR' },
  { keys: ['C-l'], label: 'Ctrl+L', action: { t: 'redraw' }, help: 'redraw the screen' },
  { keys: ['f10', 'C-q'], label: 'F10, Ctrl+Q', action: { t: 'quit' }, help: 'quit (/exit)' },
];

/** Keys of the input line; they apply wherever a line is edited (also the passphrase prompt). */
export const EDIT_KEYS: Readonly<Record<string, InputEdit>> = {
  left: { t: 'left' },
  right: { t: 'right' },
  home: { t: 'home' },
  end: { t: 'end' },
  'C-a': { t: 'home' },
  'C-e': { t: 'end' },
  'C-b': { t: 'left' },
  'C-f': { t: 'right' },
  backspace: { t: 'backspace' },
  'C-h': { t: 'backspace' },
  delete: { t: 'delete' },
  'C-d': { t: 'delete' },
  'C-u': { t: 'kill-before' },
  'C-k': { t: 'kill-after' },
  'C-w': { t: 'kill-word' },
  'C-y': { t: 'yank' },
  'C-r': { t: 'history-search' },
  'M-b': { t: 'word-left' },
  'M-f': { t: 'word-right' },
  up: { t: 'history-prev' },
  down: { t: 'history-next' },
  // Only `return`: for one Enter press neo-blessed emits a synthetic `enter` and then the real
  // `return`, so binding both ran a command and closed the dialog it opened (issue 11, defect 1).
  return: { t: 'submit' },
};

export const EDIT_HELP: readonly (readonly [string, string])[] = [
  ['Enter', 'send the line, or run the /command'],
  ['Left, Right, Home, End', 'move in the line (also Ctrl+B, Ctrl+F, Ctrl+A, Ctrl+E)'],
  ['Backspace, Delete', 'delete a character'],
  ['Ctrl+U, Ctrl+K, Ctrl+W', 'delete to the start, to the end, the word before the cursor'],
  ['Ctrl+Y', 'put back what Ctrl+U, Ctrl+K or Ctrl+W deleted'],
  ['Alt+B, Alt+F', 'move a word back, forward'],
  ['Tab', 'complete a name or a /command'],
  ['Up, Down', 'lines you sent before'],
  ['Ctrl+R', 'find a line you sent before that contains what you typed (again: older)'],
  ['paste', 'several lines pasted are sent as one message after you confirm'],
];

const byKey = new Map<string, KeyAction>(
  KEY_BINDINGS.flatMap((b) => b.keys.map((k) => [k, b.action] as const)),
);

export function actionForKey(full: string): KeyAction | undefined {
  return byKey.get(full);
}

/** What blessed reports for a key press (the parts we read). */
export interface KeyEvent {
  readonly full?: string;
  readonly name?: string;
  readonly ctrl?: boolean;
  readonly meta?: boolean;
  readonly sequence?: string;
}

/** What one key press does on the main screen (no dialog open): a pure function of the key. */
export type ScreenKey =
  | { readonly t: 'action'; readonly action: KeyAction }
  | { readonly t: 'edit'; readonly edit: InputEdit }
  /** Esc, Ctrl+C: clear the notice (Ctrl+C also the line). */
  | { readonly t: 'dismiss'; readonly clearLine: boolean }
  /**
   * Esc and the next key arrived as one read, which blessed takes for Alt+key. Unbound, it was
   * Esc then that key, typed fast (issue 11, defect 12): dismiss, then insert it.
   */
  | { readonly t: 'escape-then'; readonly text: string }
  | { readonly t: 'ignore' };

export function screenKey(ch: string | undefined, key: KeyEvent): ScreenKey {
  const full = key.full ?? key.name ?? '';
  const action = actionForKey(full);
  if (action) return { t: 'action', action };
  if (full === 'C-c' || full === 'escape') return { t: 'dismiss', clearLine: full === 'C-c' };
  const edit = editForKey(full);
  if (edit) return { t: 'edit', edit };
  if (full === 'enter') return { t: 'ignore' };
  const seq = key.sequence ?? '';
  if (key.meta && !key.ctrl && seq.length >= 2 && seq[0] === '\x1b' && /^[^\p{Cc}]+$/u.test(seq.slice(1))) {
    return { t: 'escape-then', text: seq.slice(1) };
  }
  if (ch && !key.ctrl && !key.meta && !/^\p{Cc}$/u.test(ch))
    return { t: 'edit', edit: { t: 'insert', text: ch } };
  return { t: 'ignore' };
}

export function editForKey(full: string): InputEdit | undefined {
  return Object.prototype.hasOwnProperty.call(EDIT_KEYS, full) ? EDIT_KEYS[full] : undefined;
}

/** F1: every key, then every command. */
export function keyHelpRows(): (readonly [string, string])[] {
  return [
    ...KEY_BINDINGS.filter((b) => b.help !== '').map(
      (b) => [b.label.startsWith('Alt+1') ? 'Alt+1..9' : b.label, b.help] as const,
    ),
    ...EDIT_HELP,
  ];
}
