/**
 * Width: blessed 0.2.0 counts an emoji as one cell and knows only old CJK tables, so the
 * terminal draws two cells where blessed reserved one and every column after it shifts, leaving
 * stale characters. We point blessed's width functions at ours (lib/ui/width.ts). All text the
 * UI draws first goes through `toDrawable`, so every code point is either a base character of
 * width 1 or 2, or a combining mark of width 0 that blessed merges into the previous cell; where
 * the terminal was seen to draw them as one picture (`EmojiMode`), a skin tone, a VS16 and the
 * rest of a ZWJ sequence are merged into their emoji's cell the same way, and that cell is 2 wide.
 * neo-blessed is pinned exactly; __tests__/ui/width-blessed.test.ts fails if this stops holding.
 */
import type blessed from 'neo-blessed';
import unicode from 'neo-blessed/lib/unicode';
import {
  codePointWidth,
  displayWidth,
  getEmojiMode,
  onEmojiMode,
  sharesCell,
  wideRanges,
  type EmojiMode,
} from '../width';

let patched = false;

const hex = (cp: number) => `\\u{${cp.toString(16)}}`;

/**
 * Width 2 by `codePointWidth`: emoji presentation and the East Asian wide ranges. blessed puts a
 * blank cell (\x03) after each match; with `joined` skin tones the tone belongs before that
 * blank, in the emoji's own cell (blessed merges a zero-width code point into the cell before),
 * and with `+zwj` so does the rest of a ZWJ sequence (see `joinsCell`).
 */
let rangesClass: string | undefined;

function wideRegex(mode: EmojiMode): RegExp {
  const ranges = (rangesClass ??= wideRanges()
    .map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`))
    .join(''));
  const toned = mode.startsWith('joined');
  const tone = toned ? '\\u{1f3fb}-\\u{1f3ff}' : '';
  const zwj = mode.includes('+zwj');
  const vs16 = mode.includes('+vs16');
  // blessed tags ({inverse}: a search match) may sit inside a picture: this runs before they
  // become SGR codes, which the cell loop then skips, so the picture still fills one cell.
  const tags = '(?:\\{[^{}]*\\})*';
  // After each emoji: its skin tone (joined), or with +zwj or +vs16 its VS16 or tone.
  const marks = zwj || vs16 ? `\\ufe0f${tone}` : tone;
  const mark = marks ? `(?:${tags}[${marks}])?` : '';
  const joined = zwj ? `(?:${tags}\\u200d${tags}\\p{Extended_Pictographic}${mark})*` : '';
  // With +vs16, a text-style emoji and its VS16 (❤️) are one wide cell too.
  const first = vs16
    ? `(?:\\p{Emoji_Presentation}|\\p{Extended_Pictographic}(?=${tags}\\ufe0f))`
    : '\\p{Emoji_Presentation}';
  const emoji = `(?![\\p{Mn}\\p{Me}${tone}])${first}${mark}${joined}`;
  return new RegExp(`((?:${emoji}|[${ranges}]))`, 'gu');
}

/**
 * Whether blessed draws code point `cp` in the cell before it (as a combining mark): the zero
 * width ones, and with `+zwj` the emoji after a ZWJ, so that a whole sequence is one cell's
 * string and blessed writes it out at once (screen.js `draw` writes a cell's string as it is,
 * and skips the blank after a wide cell). blessed asks for each code point of a line in order,
 * so the one before is the last one asked about.
 */
let lastAsked = 0;
function joinsCell(cp: number): boolean {
  const prev = lastAsked;
  lastAsked = cp;
  return sharesCell(cp, prev);
}

export function useOurWidths(): void {
  if (patched) return;
  patched = true;
  // screen.js draw asks this of each cell's string: a whole ZWJ sequence, or ❤️ (+vs16), is 2.
  unicode.charWidth = (str, i = 0) => {
    if (typeof str === 'string' && i === 0 && str.length > 1)
      return Math.min(2, displayWidth(str)) as 0 | 1 | 2;
    const cp = typeof str === 'number' ? str : str.codePointAt(i);
    return cp === undefined ? 0 : codePointWidth(cp);
  };
  unicode.strWidth = (s) => displayWidth(s);
  // blessed merges a code point into the previous cell when this says it is combining.
  unicode.combining = new Proxy({}, { get: (_t, p) => typeof p === 'string' && joinsCell(Number(p)) });
  unicode.chars.all = wideRegex(getEmojiMode());
  onEmojiMode((mode) => {
    unicode.chars.all = wideRegex(mode);
  });
}

interface WrappedLines extends Array<string> {
  rtof: number[];
  ftor: number[][];
  fake: string[];
  real: string[];
  mwidth: number;
}

/**
 * blessed's own line wrapping measures a line by UTF-16 length, so a line holding an emoji
 * (a surrogate pair) is cut one cell early for each. Our renderers already make every line fit
 * its box in cells (lib/ui/width.ts), so boxes drawn by us skip blessed's wrapping: one content
 * line is one screen line, as blessed's `_wrapContent` would return it with nothing to wrap.
 */
export function drawPreSized(el: blessed.Widgets.BlessedElement): void {
  (el as unknown as { _wrapContent: (content: string) => WrappedLines })._wrapContent = (content: string) => {
    const lines = content.split('\n');
    const out = lines.slice() as WrappedLines;
    out.rtof = lines.map((_, i) => i);
    out.ftor = lines.map((_, i) => [i]);
    out.fake = lines;
    out.real = out;
    // eslint-disable-next-line no-control-regex -- SGR sequences from blessed's tags take no cells
    out.mwidth = lines.reduce((m, l) => Math.max(m, displayWidth(l.replace(/\x1b\[[\d;]*m/g, ''))), 0);
    return out;
  };
}
