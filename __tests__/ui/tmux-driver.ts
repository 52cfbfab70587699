/**
 * Drives a private tmux server (its own socket, no config file) for the tests that run the built
 * binary in a real pseudo-terminal, and reads back what its screen shows.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestUser } from '../helpers/client-harness';
import { ensureBuilt } from '../helpers/dist';
import { BIN, startRelayProcess, tempDir, type RelayProcess } from '../helpers/relay-harness';

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

/** The tmux tests run the built binary: dist/ is built when missing (helpers/dist.ts). */
export function requireBuiltUi(): void {
  ensureBuilt(['ui', 'screen', 'run-screen.js']);
}

/** Ends the private tmux server, if it still runs. */
export function killTmuxServer(d: TmuxDriver): void {
  try {
    d.tmux('kill-server');
  } catch {
    // already gone
  }
}

/**
 * Starts `chatsecure --user NAME` (a first run) in a new 100x30 session named NAME under `term`,
 * accepts the unknown relay key and closes the recovery code, so the screen is ready for keys.
 */
export async function openFirstRun(
  d: TmuxDriver,
  o: {
    user: string;
    term: string;
    root: string;
    bin: string;
    port: number;
    dataDir: string;
    /** More options for the binary. */
    args?: readonly string[];
  },
): Promise<void> {
  const cmd =
    `cd ${JSON.stringify(o.root)} && TERM=${o.term} node ${JSON.stringify(o.bin)} --user ${o.user} --server 127.0.0.1:${o.port}` +
    ` --data-dir ${JSON.stringify(o.dataDir)}${(o.args ?? []).map((a) => ` ${JSON.stringify(a)}`).join('')}; echo "EXIT=$?"; sleep 60`;
  d.tmux('new-session', '-d', '-s', o.user, '-x', '100', '-y', '30', cmd);
  await d.waitForPane(o.user, (s) => s.includes('Unknown relay key'), 'the fingerprint dialog');
  d.tmux('send-keys', '-t', o.user, 'a');
  await d.waitForPane(o.user, (s) => s.includes('│ online │'), 'online');
  await d.waitForPane(o.user, (s) => s.includes('Your recovery code'), 'the recovery code');
  d.tmux('send-keys', '-t', o.user, 'q');
  await d.waitForPane(o.user, (s) => !s.includes('Your recovery code'), 'the recovery code to close');
}

/** What the tmux test files share: a relay process in a temporary directory and the test users. */
export interface TmuxRelaySuite {
  readonly relay: RelayProcess;
  readonly dir: string;
  /** Stopped after all tests. */
  readonly users: TestUser[];
  /** `openFirstRun` of the built binary for `user` against this relay, its data in the directory. */
  firstRun(user: string, term: string, args?: readonly string[]): Promise<void>;
}

/**
 * Starts a relay process before the file's tests (after checking dist/ is built) and, after them,
 * ends the tmux server, `atEnd`, the users and the relay, and removes the directory.
 */
export function tmuxRelaySuite(
  d: TmuxDriver,
  o: { root: string; prefix: string; atEnd?: () => void },
): TmuxRelaySuite {
  let relay: RelayProcess | undefined;
  let dir: string | undefined;
  const users: TestUser[] = [];
  beforeAll(async () => {
    requireBuiltUi();
    dir = tempDir(o.prefix);
    relay = await startRelayProcess(path.join(dir, 'relay'));
  });
  afterAll(async () => {
    killTmuxServer(d);
    o.atEnd?.();
    for (const u of users) await u.stop();
    await relay?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the relay starts in beforeAll');
    return v;
  };
  return {
    get relay() {
      return started(relay);
    },
    get dir() {
      return started(dir);
    },
    users,
    firstRun: (user, term, args) =>
      openFirstRun(d, {
        user,
        term,
        args,
        root: o.root,
        bin: BIN,
        port: started(relay).port,
        dataDir: path.join(started(dir), user),
      }),
  };
}
