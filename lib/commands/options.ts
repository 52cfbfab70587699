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
