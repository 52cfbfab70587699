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
 * The skin-tone mode, and `+zwj` when the terminal was seen to draw an emoji ZWJ sequence
 * (👨‍👩‍👧, 🧑‍💻) as one picture in 2 cells (tmux 3.3a, kitty, WezTerm, foot, iTerm2). Then such a
 * sequence is drawn whole; otherwise its emoji are drawn side by side (👨‍👩‍👧 → 👨👩👧).
 */
export type EmojiMode = ToneMode | `${ToneMode}+zwj`;
let emojiMode: EmojiMode = 'flatten';
let toneMode: ToneMode = 'flatten';
let zwjJoined = false;
const modeListeners: ((m: EmojiMode) => void)[] = [];

export function getEmojiMode(): EmojiMode {
  return emojiMode;
}

/** Sets the mode for every width and `toDrawable` from now on (the screen owns the terminal). */
export function setEmojiMode(mode: EmojiMode): void {
  emojiMode = mode;
  zwjJoined = mode.endsWith('+zwj');
  toneMode = mode.replace('+zwj', '') as ToneMode;
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
 * Cells taken by code point `cp` of a drawable string when `prev` comes before it: as
 * `codePointWidth`, except that with `+zwj` an emoji after a ZWJ is part of the picture before
 * it and takes no cell of its own (a drawable string keeps a ZWJ only in a sequence drawn whole).
 */
export function widthAfter(cp: number, prev: number): 0 | 1 | 2 {
  return zwjJoined && prev === ZWJ ? 0 : codePointWidth(cp);
}

/** Cells a drawable string takes (its code points' widths summed, see `widthAfter`). */
export function displayWidth(s: string): number {
  let w = 0;
  let prev = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    w += widthAfter(cp, prev);
    prev = cp;
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
    if (out.length > 0 && cp >= 0x300 && widthAfter(cp, prev) === 0) out[out.length - 1] += ch;
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

/**
 * An emoji ZWJ sequence that terminals which join ZWJ sequences all draw in 2 cells: it begins
 * with an emoji drawn as a picture by default, so that its width is not in doubt (`🏳️‍🌈` begins
 * with a text-style flag plus VS16: 1 cell in tmux, 2 in kitty, so it is drawn side by side).
 * Each emoji may carry VS16 or, when the terminal joins them (`joined`), a skin tone.
 */
const JOINABLE_TONED =
  /^(?![\u{1f1e6}-\u{1f1ff}])\p{Emoji_Presentation}(?:\ufe0f|[\u{1f3fb}-\u{1f3ff}])?(?:\u200d\p{Extended_Pictographic}(?:\ufe0f|[\u{1f3fb}-\u{1f3ff}])?)+$/u;
const JOINABLE =
  /^(?![\u{1f1e6}-\u{1f1ff}])\p{Emoji_Presentation}\ufe0f?(?:\u200d\p{Extended_Pictographic}\ufe0f?)+$/u;
const SKIN_TONES = /[\u{1f3fb}-\u{1f3ff}]/gu;

/**
 * `g` as one picture when the terminal draws ZWJ sequences whole (`+zwj`) and `g` is one it
 * draws in 2 cells; a skin tone the terminal would draw apart is dropped from it (👩🏽‍💻 → 👩‍💻,
 * one picture, rather than three). Otherwise undefined: `g` is drawn side by side.
 */
function joinedSequence(g: string): string | undefined {
  if (!zwjJoined || !g.includes('\u200d')) return undefined;
  if (toneMode === 'joined') return JOINABLE_TONED.test(g) ? g : undefined;
  const untoned = g.replace(SKIN_TONES, '');
  return JOINABLE.test(untoned) ? untoned : undefined;
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
  let prev = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    const cw = widthAfter(cp, prev);
    if (w + cw > width) break;
    w += cw;
    out += ch;
    prev = cp;
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
      let prev = 0;
      for (const ch of word) {
        const cp = ch.codePointAt(0) as number;
        const cw = widthAfter(cp, prev);
        prev = cp;
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
