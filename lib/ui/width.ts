/**
 * Display width of text in terminal cells, and a drawable form of any text.
 *
 * Terminals disagree about some sequences (an emoji ZWJ family is 2 cells in one terminal and 6 in
 * another; `❤️` is 1 or 2; flags are 1, 2 or 4), and a disagreement shifts every column after it
 * and leaves stale characters. So `toDrawable` first rewrites a string into code points on which
 * terminals agree (a base character plus combining marks; a skin tone or a whole ZWJ sequence only
 * where the screen measured how this terminal draws them, `EmojiMode`), and `displayWidth` then counts cells:
 * East Asian Wide / Fullwidth and emoji presentation = 2, combining marks = 0, everything else 1.
 * It also removes control characters, so a message body can never move the cursor or recolour
 * the screen (a peer's text is hostile input).
 */
import { eastAsianWidth } from 'get-east-asian-width';
import { neutralise } from './sanitize';

/** Emoji that are drawn as pictures by default are 2 cells wide (UTS #51, Unicode 9 and later). */
const EMOJI_PRESENTATION = /^\p{Emoji_Presentation}$/u;
const ZERO_WIDTH = /^[\p{Mn}\p{Me}]$/u;
const PICTOGRAPHIC = /\p{Extended_Pictographic}/u;
/** Regional indicators A..Z: a pair is a flag, drawn so differently that we spell it out. */
const RI_FIRST = 0x1f1e6;
const RI_LAST = 0x1f1ff;
const ZWJ = 0x200d;
const VS16 = 0xfe0f;

const SKIN_FIRST = 0x1f3fb;
const SKIN_LAST = 0x1f3ff;

/**
 * How the terminal draws an emoji with a skin tone (issue 11, defect 13), as the screen measured
 * it (terminal.ts, `probeEmoji`):
 * - `flatten`: not known (no answer, or line mode): the tone is dropped, 👍🏽 → 👍, 2 cells;
 * - `separate`: the emoji and then the tone's swatch, 2 + 2 cells (tmux 3.3a, older VTE);
 * - `joined`: one picture in 2 cells (kitty, WezTerm, foot, iTerm2): the tone takes no cell.
 */
export type ToneMode = 'flatten' | 'separate' | 'joined';

/**
 * The skin-tone mode, then `+zwj` when the terminal was seen to draw an emoji ZWJ sequence
 * (👨‍👩‍👧, 🧑‍💻) as one picture in 2 cells (tmux 3.3a does, as do grapheme-aware terminals):
 * such a sequence is drawn whole, otherwise its emoji side by side (👨‍👩‍👧 → 👨👩👧); then
 * `+vs16` when it was seen to draw a text-style emoji with VS16 (❤️) as a 2-cell picture (not
 * tmux 3.3a): VS16 is kept after such an emoji and takes the second cell, otherwise dropped (❤).
 */
export type EmojiMode = `${ToneMode}${'' | '+zwj'}${'' | '+vs16'}`;
let emojiMode: EmojiMode = 'flatten';
let toneMode: ToneMode = 'flatten';
let zwjJoined = false;
let vs16Wide = false;
const modeListeners: ((m: EmojiMode) => void)[] = [];

export function getEmojiMode(): EmojiMode {
  return emojiMode;
}

/** Sets the mode for every width and `toDrawable` from now on (the screen owns the terminal). */
export function setEmojiMode(mode: EmojiMode): void {
  emojiMode = mode;
  const [tones, ...more] = mode.split('+');
  toneMode = tones as ToneMode;
  zwjJoined = more.includes('zwj');
  vs16Wide = more.includes('vs16');
  for (const f of modeListeners) f(mode);
}

/** Called on every mode change (blessed-width.ts rebuilds its table of wide characters). */
export function onEmojiMode(f: (m: EmojiMode) => void): void {
  modeListeners.push(f);
}

export function isSkinTone(cp: number): boolean {
  return cp >= SKIN_FIRST && cp <= SKIN_LAST;
}

/** Cells taken by one code point of a drawable string (see `toDrawable`). */
export function codePointWidth(cp: number): 0 | 1 | 2 {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (cp < 0x300) return 1;
  if (toneMode === 'joined' && isSkinTone(cp)) return 0;
  const ch = String.fromCodePoint(cp);
  if (ZERO_WIDTH.test(ch) || cp === ZWJ || (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0x1160 && cp <= 0x11ff)) {
    return 0;
  }
  if (eastAsianWidth(cp) === 2 || EMOJI_PRESENTATION.test(ch)) return 2;
  return 1;
}

/**
 * The East Asian Wide and Fullwidth ranges (from get-east-asian-width) as `[first, last]` pairs,
 * for blessed's regex of wide characters (blessed-width.ts) to agree with `codePointWidth`.
 */
export function wideRanges(): [number, number][] {
  const out: [number, number][] = [];
  for (let cp = 0x1100; cp <= 0x3fffd; cp++) {
    if (eastAsianWidth(cp) !== 2 || codePointWidth(cp) !== 2) continue;
    const last = out[out.length - 1];
    if (last && last[1] === cp - 1) last[1] = cp;
    else out.push([cp, cp]);
  }
  return out;
}

/**
 * A text-style emoji: one that VS16 turns into a 2-cell picture where the terminal honours VS16
 * (`+vs16`): ❤ ☀ ✈ ♂ © (an emoji, drawn as text by default, 1 cell). Digits, `#` and `*` stay
 * text (their VS16 is dropped).
 */
const TEXT_EMOJI = /^(?!\p{Emoji_Presentation})\p{Extended_Pictographic}$/u;
export function isTextEmoji(cp: number): boolean {
  return cp >= 0xa9 && TEXT_EMOJI.test(String.fromCodePoint(cp)) && codePointWidth(cp) === 1;
}

/**
 * Cells taken by code point `cp` of a drawable string when `prev` comes before it: as
 * `codePointWidth`, except that with `+zwj` an emoji after a ZWJ is part of the picture before
 * it and takes no cell of its own (a drawable string keeps a ZWJ only in a sequence drawn whole),
 * and with `+vs16` a VS16 after a text-style emoji is the second cell of its picture (a
 * drawable string keeps a VS16 only there, or inside a sequence drawn whole).
 */
export function widthAfter(cp: number, prev: number): 0 | 1 | 2 {
  if (joinedAfterZwj(cp, prev)) return 0;
  if (cp === VS16 && vs16Wide && isTextEmoji(prev)) return 1;
  return codePointWidth(cp);
}

/**
 * Whether code point `cp` (after `prev`) is drawn in the same cell as the one before it: a
 * combining mark, a VS16, a joined skin tone, a ZWJ and, with `+zwj`, the emoji after it.
 */
export function sharesCell(cp: number, prev: number): boolean {
  return cp >= 0x300 && (codePointWidth(cp) === 0 || joinedAfterZwj(cp, prev));
}

/** With `+zwj`, an emoji right after a ZWJ is part of the picture before (nothing else is). */
function joinedAfterZwj(cp: number, prev: number): boolean {
  return zwjJoined && prev === ZWJ && cp >= 0xa9 && PICTOGRAPHIC.test(String.fromCodePoint(cp));
}

/** Cells a drawable string takes (its code points' widths summed, see `widthAfter`). */
export function displayWidth(s: string): number {
  let w = 0;
  let prev = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    w += widthAfter(cp, prev);
    // An emoji joined after a ZWJ took no cell: a VS16 after it (🧔‍♂️) does not widen it.
    prev = joinedAfterZwj(cp, prev) ? 0 : cp;
  }
  return w;
}

/**
 * A drawable string cut before each character that takes cells: each piece is what one cell (or
 * one wide cell) shows, a character with its combining marks, or a whole ZWJ sequence. Cutting a
 * drawable string anywhere else would split what the terminal draws as one.
 */
export function drawnUnits(s: string): string[] {
  const out: string[] = [];
  let prev = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (out.length > 0 && sharesCell(cp, prev)) out[out.length - 1] += ch;
    else out.push(ch);
    prev = cp;
  }
  return out;
}

// Format characters that draw nothing and that terminals handle differently: dropped.
const DROPPED = /[\p{Cf}\ufe00-\ufe0f\u{e0000}-\u{e007f}]|\p{Emoji_Modifier}/u;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Rewrites `s` so that every terminal draws it in `displayWidth(result)` cells:
 * - controls and what cannot be drawn become `?`; a tab becomes spaces (TAB_WIDTH);
 * - an emoji ZWJ sequence stays whole where the terminal draws it whole (`+zwj`, see
 *   `joinedSequence`), else it becomes its emoji side by side (👨‍👩‍👧 → 👨👩👧); variation
 *   selectors are dropped, a flag becomes its two letters (🇫🇷 → FR); a skin tone stays after
 *   its emoji when the terminal was seen to draw it (`EmojiMode`), else it is dropped;
 * - text is NFC-normalised so that accents are precomposed where Unicode can;
 * - combining marks stay after their base character, or go if there is none.
 * Newlines are kept only when `keepNewlines` is set (the conversation view wraps on them).
 */
export function toDrawable(s: string, keepNewlines = false): string {
  let out = '';
  for (const { segment } of graphemes.segment(neutralise(s, keepNewlines).normalize('NFC'))) {
    out += drawableGrapheme(segment);
  }
  return out;
}

const TONE = '[\\u{1f3fb}-\\u{1f3ff}]';
const joinable = new Map<string, RegExp>();

/**
 * An emoji ZWJ sequence that terminals which join ZWJ sequences all draw in 2 cells: it begins
 * with an emoji drawn as a picture by default (👨‍👩‍👧), or with `+vs16` a text-style emoji made
 * one by VS16 (🏳️‍🌈: 1 cell in tmux 3.3a, which does not widen it; 2 where VS16 widens);
 * without `+vs16` such a sequence is drawn side by side. Each emoji may carry VS16 or, when the
 * terminal joins them (`joined`), a skin tone. Not a flag: regional indicators are spelled out.
 */
function joinableRegex(): RegExp {
  const key = `${toneMode} ${vs16Wide}`;
  let re = joinable.get(key);
  if (!re) {
    const mark = toneMode === 'joined' ? `(?:\\ufe0f|${TONE})?` : '\\ufe0f?';
    const first = vs16Wide
      ? '(?:\\p{Emoji_Presentation}|\\p{Extended_Pictographic}(?=\\ufe0f))'
      : '\\p{Emoji_Presentation}';
    re = new RegExp(
      `^(?![\\u{1f1e6}-\\u{1f1ff}])${first}${mark}(?:\\u200d\\p{Extended_Pictographic}${mark})+$`,
      'u',
    );
    joinable.set(key, re);
  }
  return re;
}
const SKIN_TONES = /[\u{1f3fb}-\u{1f3ff}]/gu;

/**
 * `g` as one picture when the terminal draws ZWJ sequences whole (`+zwj`) and `g` is one it
 * draws in 2 cells; a skin tone the terminal would draw apart is dropped from it (👩🏽‍💻 → 👩‍💻,
 * one picture, rather than three). Otherwise undefined: `g` is drawn side by side.
 */
function joinedSequence(g: string): string | undefined {
  if (!zwjJoined || !g.includes('\u200d')) return undefined;
  const seq = toneMode === 'joined' ? g : g.replace(SKIN_TONES, '');
  return joinableRegex().test(seq) ? seq : undefined;
}

function drawableGrapheme(g: string): string {
  if (g === '\n') return '\n';
  const joined = joinedSequence(g);
  if (joined !== undefined) return joined;
  const cps = [...g].map((c) => c.codePointAt(0) as number);
  if (cps.length === 2 && cps.every((cp) => cp >= RI_FIRST && cp <= RI_LAST)) {
    return cps.map((cp) => String.fromCharCode(0x41 + cp - RI_FIRST)).join('');
  }
  let out = '';
  let hasBase = false;
  /** The last code point kept. */
  let last = 0;
  for (const cp of cps) {
    const ch = String.fromCodePoint(cp);
    const before = out.length;
    if (cp >= RI_FIRST && cp <= RI_LAST) {
      out += String.fromCharCode(0x41 + cp - RI_FIRST);
      hasBase = true;
    } else if (isSkinTone(cp) && toneMode !== 'flatten') {
      // After its emoji the tone is drawn, by a terminal that was seen to draw it.
      if (hasBase && PICTOGRAPHIC.test(String.fromCodePoint(last))) out += ch;
    } else if (cp === VS16 && vs16Wide && hasBase && isTextEmoji(last)) {
      // ❤️: the terminal draws it as a 2-cell picture.
      out += ch;
    } else if (DROPPED.test(ch)) {
      // ZWJ, variation selectors, skin tones, tags: nothing to draw on their own.
    } else if (codePointWidth(cp) === 0) {
      if (hasBase) out += ch;
    } else {
      out += ch;
      hasBase = true;
    }
    if (out.length > before) last = cp;
  }
  // An emoji sequence that lost all its pictures (only modifiers) still shows something.
  if (out === '' && PICTOGRAPHIC.test(g)) return '?';
  return out;
}

/** The longest prefix of a drawable string that fits in `width` cells. */
export function sliceToWidth(s: string, width: number): string {
  let w = 0;
  let out = '';
  for (const u of drawnUnits(s)) {
    const cw = displayWidth(u);
    if (w + cw > width) break;
    w += cw;
    out += u;
  }
  return out;
}

/** A drawable string cut to `width` cells (with `…` when cut) and padded with spaces to it. */
export function fitToWidth(s: string, width: number, ellipsis = true): string {
  if (width <= 0) return '';
  if (displayWidth(s) <= width) return s + ' '.repeat(width - displayWidth(s));
  const cut = ellipsis ? sliceToWidth(s, width - 1) + '…' : sliceToWidth(s, width);
  return cut + ' '.repeat(width - displayWidth(cut));
}

/**
 * Wraps a drawable string into lines of at most `width` cells: at spaces when a word fits,
 * otherwise inside the word; a wide character never straddles two lines. Newlines break lines.
 */
export function wrapToWidth(s: string, width: number): string[] {
  if (width < 2) width = 2;
  const out: string[] = [];
  for (const para of s.split('\n')) {
    let line = '';
    let lineW = 0;
    for (const word of para.split(/(?<= )/)) {
      const ww = displayWidth(word);
      // A word fits if its letters do; the space after it may hang past the edge (trimmed).
      if (lineW + displayWidth(word.trimEnd()) <= width) {
        line += word;
        lineW += ww;
        continue;
      }
      if (line !== '' && displayWidth(word.trimEnd()) <= width) {
        out.push(line.trimEnd());
        line = word;
        lineW = ww;
        continue;
      }
      for (const ch of drawnUnits(word)) {
        const cw = displayWidth(ch);
        if (lineW + cw > width) {
          out.push(line.trimEnd());
          line = '';
          lineW = 0;
        }
        line += ch;
        lineW += cw;
      }
    }
    out.push(line.trimEnd());
  }
  return out;
}
