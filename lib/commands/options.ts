/**
 * The option types of the two long-running modes and of every command, defined here (not in
 * lib/cli.ts) so that a command imports its options without importing the parser.
 */
import type { RelayLimits } from '../server/relay';

export interface CommonOptions {
  dataDir?: string;
  /** A file, or `-` for JSON lines on stderr (journald). */
  logFile?: string;
  logLevel?: string;
  debug: boolean;
}

export interface ServeOptions extends CommonOptions {
  host: string;
  port: number;
  /** `--metrics HOST:PORT`: serve Prometheus metrics and /healthz there (off by default). */
  metrics?: { host: string; port: number };
  /** The config file's `[limits]` table (docs/protocol.md section 9); defaults where absent. */
  limits?: Partial<RelayLimits>;
  /**
   * `--cluster redis://HOST:PORT[/DB]` with `--relay-id ID` (issue 14): several relays share
   * one Redis for the directory, prekeys, queues, sessions and presence.
   */
  cluster?: { url: string; relayId: string };
  /** `--relay-cert FILE`: the relay's certificate from a relay authority (docs/protocol.md 6.1). */
  relayCert?: string;
  /** `--encrypt-store`: relay.db encrypted with the key in relay.db.key (off by default). */
  encryptStore?: boolean;
}

/** `chatsecure passphrase --user NAME`: set, change or remove the passphrase (issue 13). */
export interface PassphraseOptions extends CommonOptions {
  user: string;
  /** The current passphrase, when there is one (else the prompt or CHATSECURE_PASSPHRASE). */
  passphraseFile?: string;
  /** The new passphrase (else the prompt, asked twice). */
  newPassphraseFile?: string;
  /** Remove the passphrase: the secrets are kept in 0600 files unsealed. */
  remove: boolean;
}

export type Theme = 'dark' | 'light';
export const THEMES: readonly Theme[] = ['dark', 'light'];

export interface UserOptions extends CommonOptions {
  user: string;
  server: { host: string; port: number };
  plain: boolean;
  json: boolean;
  acceptNewServer: boolean;
  serverFingerprint?: string;
  /** `--trust-authority SHA256:...`: trust relays certified by this authority (docs/protocol.md 6.1). */
  trustAuthority?: string[];
  passphraseFile?: string;
  readReceipts: boolean;
  bell: boolean;
  /** Remove this relay's pinned key from known_servers, then exit (a relay key that changed on purpose). */
  forgetServer?: string;
  /** Register a new identity under the name with the recovery code (read from the TTY or stdin). */
  recover?: boolean;
  /** A desktop notification through the terminal (OSC 777 / OSC 9) for a message off screen. */
  notify: boolean;
  /** Run this command for a message off screen (the UI decides what it is told; never the text). */
  notifyCommand?: string;
  theme: Theme;
  /** Mouse support in the full-screen UI (clicks, wheel). */
  mouse: boolean;
}
