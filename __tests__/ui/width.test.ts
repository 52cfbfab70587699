import fc from 'fast-check';
import unicode from 'neo-blessed/lib/unicode';
import { useOurWidths } from '../../lib/ui/screen/blessed-width';
import { renderInput, emptyInput } from '../../lib/ui/input-line';
import {
  codePointWidth,
  displayWidth,
  drawnUnits,
  fitToWidth,
  setEmojiMode,
  sliceToWidth,
  toDrawable,
  wrapToWidth,
} from '../../lib/ui/width';

describe('display width', () => {
  test.each([
    ['abc', 3],
    ['中文', 4],
    ['한국어', 6],
    ['ｱｲ', 2], // halfwidth katakana
    ['Ａ', 2], // fullwidth A
    ['😀', 2],
    ['e\u0301', 1], // combining acute
    ['', 0],
  ])('%j is %i cells', (s, w) => {
    expect(displayWidth(s)).toBe(w);
  });

  test('combining marks are zero, controls are zero, plain letters one', () => {
    expect(codePointWidth(0x0301)).toBe(0);
    expect(codePointWidth(0x1b)).toBe(0);
    expect(codePointWidth(0x41)).toBe(1);
    expect(codePointWidth(0x1f600)).toBe(2);
    expect(codePointWidth(0x4e2d)).toBe(2);
  });
});

describe('toDrawable', () => {
  test.each([
    ['a ZWJ family becomes its emoji side by side', '👨‍👩‍👧', '👨👩👧', 6],
    ['a skin tone is dropped', '👍🏽', '👍', 2],
    ['VS16 is dropped: the text form is one cell everywhere', '❤️', '❤', 1],
    ['a flag becomes its letters', '🇫🇷', 'FR', 2],
    ['an accent is precomposed', 'e\u0301', 'é', 1],
    ['escape sequences cannot reach the terminal', '\x1b[31mred\x07', '?[31mred?', 9],
    ['bidi overrides are shown, not obeyed', 'a\u202eb', 'a?b', 3],
    ['a tab becomes spaces', 'a\tb', 'a    b', 6],
    ['a newline becomes a space unless kept', 'a\nb', 'a b', 3],
    ['a lone surrogate is replaced', 'a\ud800b', 'a?b', 3],
  ])('%s', (_what, input, out, width) => {
    expect(toDrawable(input)).toBe(out);
    expect(displayWidth(toDrawable(input))).toBe(width);
  });

  test('newlines are kept for the conversation view', () => {
    expect(toDrawable('a\r\nb', true)).toBe('a\nb');
  });

  test('property: no control character survives, and blessed (patched) agrees on the width', () => {
    useOurWidths();
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const d = toDrawable(s);
        expect(/\p{Cc}/u.test(d)).toBe(false);
        expect(unicode.strWidth(d)).toBe(displayWidth(d));
      }),
      { numRuns: 300 },
    );
  });
});

describe('fitting and wrapping', () => {
  test('a wide character never straddles the cut', () => {
    expect(sliceToWidth('ab中', 3)).toBe('ab');
    expect(fitToWidth('ab中d', 4)).toBe('ab… ');
    expect(displayWidth(fitToWidth('ab中d', 4))).toBe(4);
    expect(fitToWidth('ab', 4)).toBe('ab  ');
  });

  test('wraps at spaces, and inside a word longer than the line', () => {
    expect(wrapToWidth('hello there world', 11)).toEqual(['hello there', 'world']);
    expect(wrapToWidth('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']);
    expect(wrapToWidth('中文中文中', 4)).toEqual(['中文', '中文', '中']);
    expect(wrapToWidth('one\ntwo', 10)).toEqual(['one', 'two']);
  });

  test('property: every wrapped line fits its width', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), fc.integer({ min: 2, max: 30 }), (s, w) => {
        for (const line of wrapToWidth(toDrawable(s, true), w))
          expect(displayWidth(line)).toBeLessThanOrEqual(w);
      }),
      { numRuns: 300 },
    );
  });
});

describe('skin tones by how the terminal draws them (defect 13)', () => {
  afterEach(() => setEmojiMode('flatten'));

  test.each([
    ['flatten', '👍🏽 ok', '👍 ok', 5],
    ['separate', '👍🏽 ok', '👍🏽 ok', 7],
    ['joined', '👍🏽 ok', '👍🏽 ok', 5],
    ['joined', 'a lone tone 🏽', 'a lone tone ', 12],
    ['separate', 'family 👨🏽‍👩', 'family 👨🏽👩', 13],
  ] as const)('%s: %j → %j, %i cells', (mode, input, drawn, cells) => {
    setEmojiMode(mode);
    expect(toDrawable(input)).toBe(drawn);
    expect(displayWidth(toDrawable(input))).toBe(cells);
  });

  test("joined: blessed keeps the tone in the emoji's cell, before the blank of its second half", () => {
    useOurWidths();
    setEmojiMode('joined');
    expect('x👍🏽y'.replace(unicode.chars.all, '$1\x03')).toBe('x👍🏽\x03y');
    expect('{inverse}👍{/inverse}🏽y'.replace(unicode.chars.all, '$1\x03')).toBe(
      '{inverse}👍{/inverse}🏽\x03y',
    );
    setEmojiMode('separate');
    expect('x👍🏽y'.replace(unicode.chars.all, '$1\x03')).toBe('x👍\x03🏽\x03y');
  });
});

describe('ZWJ sequences where the terminal draws them whole (+zwj, defect 13)', () => {
  afterEach(() => setEmojiMode('flatten'));
  const FAMILY = '👨\u200d👩\u200d👧';
  const CODER = '🧑\u200d💻';
  const RAINBOW = '🏳\ufe0f\u200d🌈';
  const TONED_CODER = '👩🏽\u200d💻';

  test.each([
    ['flatten+zwj', `a ${FAMILY} b`, `a ${FAMILY} b`, 6],
    ['separate+zwj', `${CODER}!`, `${CODER}!`, 3],
    ['joined+zwj', `${FAMILY}${CODER}`, `${FAMILY}${CODER}`, 4],
    ['separate+zwj', '👨\u200d👩\u200d👧\u200d👦', '👨\u200d👩\u200d👧\u200d👦', 2],
    ['flatten+zwj', '🧔\u200d♂\ufe0f', '🧔\u200d♂\ufe0f', 2],
    // A text-style first emoji: terminals disagree on its width, so it stays side by side.
    ['joined+zwj', RAINBOW, '🏳🌈', 3],
    // A tone the terminal draws apart is dropped from the picture; one it joins stays.
    ['separate+zwj', TONED_CODER, '👩\u200d💻', 2],
    ['joined+zwj', TONED_CODER, TONED_CODER, 2],
    // Without +zwj, as before: side by side.
    ['joined', FAMILY, '👨👩👧', 6],
    ['separate', `${CODER}!`, '🧑💻!', 5],
    // Flags are never ZWJ sequences; a lone ZWJ is dropped.
    ['joined+zwj', '🇫🇷\u200d🇩🇪', 'FRDE', 4],
    ['joined+zwj', 'a\u200db', 'ab', 2],
  ] as const)('%s: %j → %j, %i cells', (mode, input, drawn, cells) => {
    setEmojiMode(mode);
    expect(toDrawable(input)).toBe(drawn);
    expect(displayWidth(toDrawable(input))).toBe(cells);
  });

  test('cutting, wrapping and fitting never split a sequence drawn whole', () => {
    setEmojiMode('separate+zwj');
    const s = toDrawable(`ab${FAMILY}cd`);
    expect(drawnUnits(s)).toEqual(['a', 'b', FAMILY, 'c', 'd']);
    expect(sliceToWidth(s, 3)).toBe('ab');
    expect(sliceToWidth(s, 4)).toBe(`ab${FAMILY}`);
    expect(fitToWidth(s, 5, false)).toBe(`ab${FAMILY}c`);
    expect(wrapToWidth(s, 3)).toEqual(['ab', `${FAMILY}c`, 'd']);
    // A sequence cut in UTF-16 (a label sliced by length): what follows its ZWJ still counts.
    expect(displayWidth('👨\u200d ab')).toBe(5);
    expect(drawnUnits('👨\u200d ab')).toEqual(['👨\u200d', ' ', 'a', 'b']);
  });

  test('the input line: the cursor is 2 cells after a sequence, and scrolling keeps it whole', () => {
    setEmojiMode('flatten+zwj');
    const text = `x${FAMILY}${CODER}`;
    const r = renderInput({ ...emptyInput(), text, cursor: text.length }, 20);
    expect(r.cursorCol).toBe(5);
    expect(r.text).toBe(`${text}${' '.repeat(15)}`);
    // 4 cells: the cursor's own cell and the last picture; the one before would not fit whole.
    const narrow = renderInput({ ...emptyInput(), text, cursor: text.length }, 4);
    expect(narrow).toEqual({ text: `${CODER}  `, cursorCol: 2 });
  });

  test('blessed: a sequence is one wide match (its blank after all of it); flat without +zwj', () => {
    useOurWidths();
    setEmojiMode('separate+zwj');
    expect(`x${FAMILY}y`.replace(unicode.chars.all, '$1\x03')).toBe(`x${FAMILY}\x03y`);
    expect(`x👍🏽y`.replace(unicode.chars.all, '$1\x03')).toBe('x👍\x03🏽\x03y');
    // A search match inside the sequence: the tags stay inside it, the blank after it all.
    const found = `x👨\u200d{inverse}👩{/inverse}\u200d👧y`;
    expect(found.replace(unicode.chars.all, '$1\x03')).toBe(`x👨\u200d{inverse}👩{/inverse}\u200d👧\x03y`);
    setEmojiMode('joined+zwj');
    expect(`${TONED_CODER}y`.replace(unicode.chars.all, '$1\x03')).toBe(`${TONED_CODER}\x03y`);
    setEmojiMode('separate');
    expect(`x👨👩y`.replace(unicode.chars.all, '$1\x03')).toBe('x👨\x03👩\x03y');
  });
});

describe('text-style emoji with VS16 where the terminal draws them as pictures (+vs16, defect 13)', () => {
  afterEach(() => setEmojiMode('flatten'));
  const HEART = '❤\ufe0f';
  const RAINBOW = '🏳\ufe0f\u200d🌈';
  const HEART_FIRE = '❤\ufe0f\u200d🔥';

  test.each([
    ['flatten+vs16', `${HEART} ok`, `${HEART} ok`, 5],
    ['flatten', `${HEART} ok`, '❤ ok', 4],
    ['separate+zwj', `${HEART} ok`, '❤ ok', 4],
    // A VS16-led ZWJ sequence is one picture only where VS16 makes the first emoji 2 cells.
    ['separate+zwj+vs16', RAINBOW, RAINBOW, 2],
    ['joined+zwj+vs16', `${HEART_FIRE}!`, `${HEART_FIRE}!`, 3],
    // A VS16 inside the sequence, after a joined emoji, widens nothing.
    ['flatten+zwj+vs16', '🧔\u200d♂\ufe0f', '🧔\u200d♂\ufe0f', 2],
    ['separate+zwj+vs16', '👁\ufe0f\u200d🗨\ufe0f', '👁\ufe0f\u200d🗨\ufe0f', 2],
    ['flatten+vs16', RAINBOW, '🏳\ufe0f🌈', 4],
    ['separate+zwj', RAINBOW, '🏳🌈', 3],
    // An emoji that is a picture already keeps no VS16; a keycap digit stays text.
    ['flatten+vs16', '😀\ufe0f', '😀', 2],
    ['flatten+vs16', '#\ufe0f\u20e3', '#\u20e3', 1],
  ] as const)('%s: %j → %j, %i cells', (mode, input, drawn, cells) => {
    setEmojiMode(mode);
    expect(toDrawable(input)).toBe(drawn);
    expect(displayWidth(toDrawable(input))).toBe(cells);
  });

  test('cutting and wrapping never separate a VS16 from its emoji', () => {
    setEmojiMode('flatten+vs16');
    expect(drawnUnits(`a${HEART}b`)).toEqual(['a', HEART, 'b']);
    expect(sliceToWidth(`a${HEART}b`, 2)).toBe('a');
    expect(sliceToWidth(`a${HEART}b`, 3)).toBe(`a${HEART}`);
    expect(wrapToWidth(`ab${HEART}`, 3)).toEqual(['ab', HEART]);
    expect(fitToWidth(`${HEART}${HEART}`, 3)).toBe(`${HEART}…`);
  });

  test('blessed: ❤️ is one wide match, and its cell is 2 wide', () => {
    useOurWidths();
    setEmojiMode('separate+zwj+vs16');
    expect(`x${HEART}y${RAINBOW}z`.replace(unicode.chars.all, '$1\x03')).toBe(
      `x${HEART}\x03y${RAINBOW}\x03z`,
    );
    // A search match on the emoji alone: its VS16 stays in its cell, the blank after both.
    expect(`{inverse}❤{/inverse}\ufe0fy`.replace(unicode.chars.all, '$1\x03')).toBe(
      `{inverse}❤{/inverse}\ufe0f\x03y`,
    );
    expect(unicode.charWidth(HEART)).toBe(2);
    expect(unicode.charWidth(RAINBOW)).toBe(2);
    setEmojiMode('separate+zwj');
    expect(unicode.charWidth('❤')).toBe(1);
  });
});
