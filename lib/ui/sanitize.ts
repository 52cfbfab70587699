/**
 * Peer strings are hostile input: a message body, a display name or an error text that quotes
 * one can carry ESC sequences (window title, OSC 52 clipboard writes, screen clears, colours),
 * C1 controls (0x9b is a one-byte CSI) or bidi overrides. Both views pass every such string
 * through `neutralise` before it reaches the terminal (issue 11, defect 0): each control becomes
 * a visible `?`, so what was sent can still be seen, but never acts.
 */

/** Spaces a tab becomes: a tab's width depends on the column, which the views do not track. */
export const TAB_WIDTH = 4;

/**
 * `s` with every code point a terminal may act on or draw misleadingly replaced by `?`: C0 and
 * C1 controls and DEL, lone surrogates, unassigned and private-use code points, and the bidi
 * overrides and isolates that reorder what follows ("Trojan Source"); tabs become spaces Newlines stay only when
 * `keepNewlines` is set (then `\r\n` becomes `\n`); otherwise a newline becomes a space.
 */
export function neutralise(s: string, keepNewlines = false): string {
  return s.replace(/\r\n|[\n\t]|[\p{Cc}\p{Cs}\p{Cn}\p{Co}\u202a-\u202e\u2066-\u2069]/gu, (c) => {
    if (c === '\t') return ' '.repeat(TAB_WIDTH);
    if (c === '\n' || c === '\r\n') return keepNewlines ? '\n' : ' ';
    return '?';
  });
}
