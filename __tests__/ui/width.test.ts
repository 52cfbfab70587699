import fc from 'fast-check';
import unicode from 'neo-blessed/lib/unicode';
import { useOurWidths } from '../../lib/ui/screen/blessed-width';
import {
  codePointWidth,
  displayWidth,
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
    setEmojiMode('separate');
    expect('x👍🏽y'.replace(unicode.chars.all, '$1\x03')).toBe('x👍\x03🏽\x03y');
  });
});
