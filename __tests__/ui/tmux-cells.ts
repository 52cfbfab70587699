/**
 * The cells a line of `tmux capture-pane` takes as tmux 3.3a draws it, counted independently of
 * the screen's own layout: a grapheme holding a ZWJ is one picture as wide as its first emoji;
 * anything else is its code points' widths (so a skin tone is its own 2-cell swatch).
 */
import { codePointWidth } from '../../lib/ui/width';

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

export function tmuxCells(line: string): number {
  let w = 0;
  for (const { segment } of graphemes.segment(line)) {
    const cps = [...segment].map((c) => c.codePointAt(0) as number);
    if (cps.includes(0x200d)) w += codePointWidth(cps[0]);
    else for (const cp of cps) w += codePointWidth(cp);
  }
  return w;
}
