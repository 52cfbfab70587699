/**
 * Drives a private tmux server (its own socket, no config file) for the tests that run the built
 * binary in a real pseudo-terminal, and reads back what its screen shows.
 */
import { execFileSync } from 'node:child_process';

export interface TmuxDriver {
  tmux(...args: string[]): string;
  /** The pane's text; with `escapes`, its colour escapes too (capture-pane -e). */
  capture(session: string, escapes?: boolean): string;
  /** Polls the pane until `pred` holds; fails naming `what`, with the screen as it was. */
  waitForPane(
    session: string,
    pred: (s: string) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<string>;
}

export function tmuxDriver(socket: string, defaultTimeoutMs: number): TmuxDriver {
  const tmux = (...args: string[]): string =>
    execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  const capture = (session: string, escapes = false): string =>
    tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', session);
  const waitForPane = async (
    session: string,
    pred: (s: string) => boolean,
    what: string,
    timeoutMs = defaultTimeoutMs,
  ): Promise<string> => {
    const start = Date.now();
    for (;;) {
      const s = capture(session);
      if (pred(s)) return s;
      if (Date.now() - start > timeoutMs) throw new Error(`${session} never showed ${what}:\n${s}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { tmux, capture, waitForPane };
}
