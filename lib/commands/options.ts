/**
 * What every command's options share. Each command owns its own option type, in its file under
 * lib/commands/ (serve.ts, client.ts, passphrase.ts, ...), so a command imports its options
 * without importing the parser, and lib/cli.ts only parses and dispatches.
 */
export interface CommonOptions {
  dataDir?: string;
  /** A file, or `-` for JSON lines on stderr (journald). */
  logFile?: string;
  logLevel?: string;
  debug: boolean;
}

export type Theme = 'dark' | 'light';
export const THEMES: readonly Theme[] = ['dark', 'light'];

/**
 * How the full screen draws emoji sequences (issue 11, defect 13): `auto` asks the terminal
 * (inside tmux that measures tmux, not the terminal around it), `plain` always flattens skin
 * tones and ZWJ sequences (👍🏽 → 👍, 👨‍👩‍👧 → 👨👩👧), `full` draws them whole as one 2-cell
 * picture, as grapheme-aware terminals (kitty, WezTerm, foot, iTerm2) do.
 */
export type EmojiOption = 'auto' | 'plain' | 'full';
export const EMOJI_OPTIONS: readonly EmojiOption[] = ['auto', 'plain', 'full'];
