import fc from 'fast-check';
import {
  applyInput,
  emptyInput,
  INPUT_HISTORY_MAX,
  PASTE_MAX_CHARS,
  PasteSplitter,
  renderInput,
  type InputEdit,
  type InputState,
} from '../../lib/ui/input-line';
import { displayWidth } from '../../lib/ui/width';

function run(edits: InputEdit[], s: InputState = emptyInput()): { state: InputState; submitted: string[] } {
  const submitted: string[] = [];
  for (const e of edits) {
    const r = applyInput(s, e);
    s = r.state;
    if (r.submitted !== undefined) submitted.push(r.submitted);
  }
  return { state: s, submitted };
}

const type = (text: string): InputEdit => ({ t: 'insert', text });

describe('editing', () => {
  test('cursor moves, inserts in the middle, Home/End', () => {
    const { state } = run([
      type('helo'),
      { t: 'left' },
      type('l'),
      { t: 'home' },
      type('>'),
      { t: 'end' },
      type('!'),
    ]);
    expect(state.text).toBe('>hello!');
    expect(state.cursor).toBe(7);
  });

  test('Backspace and Delete remove a whole grapheme (emoji, accent)', () => {
    let { state } = run([type('a😀e\u0301b'), { t: 'left' }, { t: 'backspace' }]);
    expect(state.text).toBe('a😀b');
    ({ state } = run([{ t: 'home' }, { t: 'right' }, { t: 'delete' }], state));
    expect(state.text).toBe('ab');
  });

  test('Ctrl+U, Ctrl+K, Ctrl+W', () => {
    const base = run([type('one two three'), { t: 'left' }, { t: 'left' }]).state;
    expect(applyInput(base, { t: 'kill-before' }).state.text).toBe('ee');
    expect(applyInput(base, { t: 'kill-after' }).state.text).toBe('one two thr');
    expect(applyInput(base, { t: 'kill-word' }).state.text).toBe('one two ee');
    const spaces = run([type('one two   ')]).state;
    // As readline: the spaces and the word before them.
    expect(applyInput(spaces, { t: 'kill-word' }).state.text).toBe('one ');
  });

  test('Enter submits the line and clears it; an empty line submits nothing', () => {
    const r = run([type('hi'), { t: 'submit' }, type('   '), { t: 'submit' }]);
    expect(r.submitted).toEqual(['hi']);
    expect(r.state.text).toBe('');
  });

  test('Up/Down walk the history and come back to the draft', () => {
    let { state } = run([type('first'), { t: 'submit' }, type('second'), { t: 'submit' }, type('draft')]);
    ({ state } = run([{ t: 'history-prev' }], state));
    expect(state.text).toBe('second');
    ({ state } = run([{ t: 'history-prev' }, { t: 'history-prev' }], state));
    expect(state.text).toBe('first');
    ({ state } = run([{ t: 'history-next' }, { t: 'history-next' }], state));
    expect(state.text).toBe('draft');
  });

  test('history is bounded', () => {
    const edits: InputEdit[] = [];
    for (let i = 0; i < INPUT_HISTORY_MAX + 10; i++) edits.push(type(`l${i}`), { t: 'submit' });
    const { state } = run(edits);
    expect(state.history).toHaveLength(INPUT_HISTORY_MAX);
    expect(state.history[0]).toBe('l10');
  });
});

describe('paste', () => {
  test('one line is inserted at the cursor, not sent', () => {
    const r = run([type('ab'), { t: 'left' }, { t: 'paste', text: 'XY\n' }]);
    expect(r.state.text).toBe('aXYb');
    expect(r.submitted).toEqual([]);
  });

  test('several lines wait for a confirmation, then go as ONE message', () => {
    let r = run([type('note: '), { t: 'paste', text: 'l1\r\nl2\r\nl3' }]);
    expect(r.submitted).toEqual([]);
    expect(r.state.pendingPaste).toBe('l1\nl2\nl3');
    r = run([{ t: 'paste-confirm' }], r.state);
    expect(r.submitted).toEqual(['note: l1\nl2\nl3']);
    expect(r.state.pendingPaste).toBeUndefined();
  });

  test('a cancelled paste sends nothing and keeps the line', () => {
    const r = run([
      type('keep'),
      { t: 'paste', text: 'a\nb' },
      { t: 'paste-cancel' },
      { t: 'paste-confirm' },
    ]);
    expect(r.submitted).toEqual([]);
    expect(r.state.text).toBe('keep');
  });

  test('typed newlines never split a line', () => {
    expect(run([type('a\nb')]).state.text).toBe('a b');
  });
});

describe('PasteSplitter', () => {
  test('keys around a paste stay keys; the paste comes whole', () => {
    const p = new PasteSplitter();
    expect(p.feed('ab\x1b[200~x\ny\x1b[201~\r')).toEqual([
      { t: 'keys', data: 'ab' },
      { t: 'paste', text: 'x\ny', truncated: false },
      { t: 'keys', data: '\r' },
    ]);
  });

  test('property: any split of the bytes gives the same pieces', () => {
    const input = 'k1\x1b[200~line1\r\nline2\x1b[201~k2\x1b[200~z\x1b[201~';
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: input.length - 1 }), { maxLength: 8 }), (cuts) => {
        const p = new PasteSplitter();
        const pts = [0, ...cuts.sort((a, b) => a - b), input.length];
        const pieces = pts.slice(1).flatMap((end, i) => p.feed(input.slice(pts[i], end)));
        const keys = pieces
          .filter((x) => x.t === 'keys')
          .map((x) => (x.t === 'keys' ? x.data : ''))
          .join('');
        const pastes = pieces.filter((x) => x.t === 'paste').map((x) => (x.t === 'paste' ? x.text : ''));
        expect(keys).toBe('k1k2');
        expect(pastes).toEqual(['line1\r\nline2', 'z']);
      }),
    );
  });

  test('a lone Escape waits for the rest of a marker, then is flushed as a key', () => {
    const p = new PasteSplitter();
    expect(p.feed('\x1b')).toEqual([]);
    expect(p.holding).toBe(true);
    expect(p.flush()).toEqual([{ t: 'keys', data: '\x1b' }]);
    expect(p.feed('\x1b')).toEqual([]);
    expect(p.feed('[200~x\x1b[201~')).toEqual([{ t: 'paste', text: 'x', truncated: false }]);
  });

  test('a runaway paste is cut at PASTE_MAX_CHARS and says so', () => {
    const p = new PasteSplitter();
    p.feed('\x1b[200~' + 'x'.repeat(PASTE_MAX_CHARS));
    const [piece] = p.feed('more\x1b[201~');
    expect(piece).toEqual({ t: 'paste', text: 'x'.repeat(PASTE_MAX_CHARS), truncated: true });
  });
});

describe('renderInput', () => {
  test('scrolls sideways to keep the cursor visible, in cells', () => {
    const { state } = run([type('0123456789中文')]);
    const r = renderInput(state, 8);
    expect(displayWidth(r.text)).toBe(8);
    expect(r.cursorCol).toBeLessThanOrEqual(7);
    expect(r.text.trimEnd().endsWith('中文')).toBe(true);
  });

  test('the passphrase mask shows one * per character', () => {
    const { state } = run([type('sécret😀')]);
    expect(renderInput(state, 20, true).text.trimEnd()).toBe('*******');
  });
});
