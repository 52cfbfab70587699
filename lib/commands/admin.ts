/**
 * `chatsecure admin ...`: operator commands on the relay's data dir, through the RelayStore
 * interface (lib/server/store.ts), so they work on any backend the relay can use.
 *
 * - `admin users [--page N] [--page-size N]`: registered users, a page at a time;
 * - `admin user NAME`: registration, last seen, queued envelopes, one-time prekeys left, identity;
 * - `admin free-name NAME [--yes]`: forget the user, their prekeys and their queue (asks first);
 * - `admin fingerprint`: the relay's key fingerprint.
 *
 * Exit statuses as the rest of the CLI: 0 done, 1 failed or refused (an unknown user, no
 * confirmation), 2 wrong arguments. Names come from the store: they are printed through
 * `safeText` so a stored name can never drive the terminal.
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { fingerprint } from '../crypto/primitives';
import { ChatError } from '../errors';
import { canonName } from '../names';
import { resolveDataDir, serverDir } from '../paths';
import type { RelayStore } from '../server/store';
import { relayFingerprint } from './fingerprint';
import { escapeControls } from './logs';
import type { CommonOptions } from './options';

export type AdminAction =
  | { kind: 'users'; page: number; pageSize: number }
  | { kind: 'user'; name: string }
  | { kind: 'free-name'; name: string; yes: boolean }
  | { kind: 'fingerprint' };

export interface AdminOptions extends CommonOptions {
  action: AdminAction;
}

/** Where the command talks to the operator; tests may pass their own. */
export interface AdminIo {
  out(text: string): void;
  err(text: string): void;
  /** One answer line, or undefined at end of input. */
  ask(question: string): Promise<string | undefined>;
}

/** Names come from the store: printed escaped, so a stored name can never drive the terminal. */
const safeText = (s: string): string => escapeControls(s);

function when(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function stdio(): AdminIo {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    ask: (question) =>
      new Promise((resolve) => {
        process.stderr.write(question);
        const rl = readline.createInterface({ input: process.stdin, terminal: false });
        let answered = false;
        rl.once('line', (line) => {
          answered = true;
          rl.close();
          resolve(line);
        });
        rl.once('close', () => {
          if (!answered) resolve(undefined);
        });
      }),
  };
}

async function openStore(dataDir: string): Promise<RelayStore> {
  const dir = serverDir(dataDir);
  // Opening a store creates it: an operator's typo in --data-dir must not make an empty relay.
  if (!fs.existsSync(dir))
    throw new ChatError('storage_failed', `there is no relay data in ${dir}; is --data-dir right?`, 'admin');
  const { openRelayStore } = await import('../server/sqlite-store.js');
  const { relayStoreKey } = await import('../server/relay-key.js');
  // An encrypted store (`--serve --encrypt-store`) is opened with its key file; never made here.
  return openRelayStore(dir, { key: relayStoreKey(dir, false)?.key });
}

export async function runAdmin(opts: AdminOptions, io: AdminIo = stdio()): Promise<void> {
  const dataDir = resolveDataDir(opts.dataDir);
  const action = opts.action;
  if (action.kind === 'fingerprint') {
    io.out(`${relayFingerprint(dataDir)}\n`);
    return;
  }
  const store = await openStore(dataDir);
  try {
    switch (action.kind) {
      case 'users':
        return await listUsers(store, action.page, action.pageSize, io);
      case 'user':
        return await showUser(store, action.name, io);
      case 'free-name':
        return await freeName(store, action.name, action.yes, io);
    }
  } finally {
    await store.close();
  }
}

async function listUsers(store: RelayStore, page: number, pageSize: number, io: AdminIo): Promise<void> {
  const users = await store.listUsers();
  const pages = Math.max(1, Math.ceil(users.length / pageSize));
  if (page > pages && users.length > 0)
    throw new ChatError('bad_args', `--page ${page} is past the last page (${pages})`, 'admin.users');
  const slice = users.slice((page - 1) * pageSize, page * pageSize);
  const rows = [['NAME', 'REGISTERED', 'LAST SEEN', 'QUEUED']];
  for (const u of slice) {
    rows.push([
      safeText(u.name),
      when(u.registeredAt),
      when(u.lastSeen),
      String(await store.countQueued(u.canon)),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows)
    io.out(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}\n`);
  io.out(`page ${page} of ${pages} (${users.length} user${users.length === 1 ? '' : 's'})\n`);
}

async function showUser(store: RelayStore, name: string, io: AdminIo): Promise<void> {
  const u = await store.lookup(canonName(name));
  if (!u) throw new ChatError('unknown_user', `no user is called ${name}`, 'admin.user');
  io.out(
    `name:        ${safeText(u.name)}\n` +
      `registered:  ${when(u.registeredAt)}\n` +
      `last seen:   ${when(u.lastSeen)}\n` +
      `queued:      ${await store.countQueued(u.canon)}\n` +
      `prekeys:     ${await store.countOpks(u.canon)} one-time prekeys left\n` +
      `identity:    ${fingerprint(u.dhKey)}\n`,
  );
}

async function freeName(store: RelayStore, name: string, yes: boolean, io: AdminIo): Promise<void> {
  const canon = canonName(name);
  const u = await store.lookup(canon);
  if (!u) throw new ChatError('unknown_user', `no user is called ${name}`, 'admin.free-name');
  const queued = await store.countQueued(canon);
  if (!yes) {
    const answer = await io.ask(
      `Free the name ${safeText(u.name)}? This forgets its identity, its prekeys and ${queued} queued ` +
        `envelope${queued === 1 ? '' : 's'}, and anyone may register the name again. Type "yes" to go on: `,
    );
    if (answer?.trim().toLowerCase() !== 'yes') {
      io.err('Nothing was changed.\n');
      process.exitCode = 1;
      return;
    }
  }
  if (!(await store.freeName(canon)))
    throw new ChatError('unknown_user', `no user is called ${name}`, 'admin.free-name');
  io.out(
    `Freed the name ${safeText(u.name)} (${queued} queued envelope${queued === 1 ? '' : 's'} deleted).\n`,
  );
}
