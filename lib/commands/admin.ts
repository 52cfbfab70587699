/**
 * `chatsecure admin ...`: operator commands on the relay's data dir, through the RelayStore
 * interface (lib/server/store.ts), so they work on any backend the relay can use.
 *
 * - `admin users [--page N] [--page-size N]`: registered users, a page at a time;
 * - `admin user NAME`: registration, last seen, queued envelopes, one-time prekeys left, identity;
 * - `admin free-name NAME [--yes]`: forget the user, their prekeys and their queue (asks first);
 * - `admin fingerprint`: the relay's key fingerprint;
 * - `admin relay-key`: the relay's public key in base64 (what an authority signs);
 * - `admin authority create FILE`: a new relay-authority key (Ed25519) in FILE, mode 0600;
 * - `admin authority sign FILE --relay-key B64 --relay-id ID [--days N] [--out CERT]`: a relay
 *   certificate (docs/protocol.md section 6.1);
 * - `admin authority show FILE`: an authority key's fingerprint, or a certificate's fields.
 *
 * The authority key is a secret: created with O_EXCL and mode 0600 (never over an existing file
 * or through a symlink), and read only through O_NOFOLLOW from a regular file that nobody else
 * can read, like SSH refuses a private key with loose permissions. Keep it offline.
 *
 * Exit statuses as the rest of the CLI: 0 done, 1 failed or refused (an unknown user, no
 * confirmation), 2 wrong arguments. Names come from the store: they are printed through
 * `safeText` so a stored name can never drive the terminal.
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import {
  checkX25519Public,
  ed25519KeyPair,
  fingerprint,
  fromBase64,
  randomBytes,
  toBase64,
  wipe,
} from '../crypto/primitives';
import {
  authorityFingerprint,
  certSummary,
  formatRelayCertFile,
  parseRelayCertFile,
  RELAY_CERT_FILE_TAG,
  RELAY_ID_PATTERN,
  relayCertFields,
  signRelayCert,
} from '../crypto/relay-cert';
import { ChatError, isChatError } from '../errors';
import { canonName } from '../names';
import { resolveDataDir, SECRET_FILE_MODE, serverDir } from '../paths';
import { loadRelayKey } from '../server/relay-key';
import type { RelayStore } from '../server/store';
import { relayFingerprint } from './fingerprint';
import { escapeControls } from './logs';
import type { CommonOptions } from './options';

export type AdminAction =
  | { kind: 'users'; page: number; pageSize: number }
  | { kind: 'user'; name: string }
  | { kind: 'free-name'; name: string; yes: boolean }
  | { kind: 'fingerprint' }
  | { kind: 'relay-key' }
  | { kind: 'authority-create'; file: string }
  | {
      kind: 'authority-sign';
      file: string;
      relayKey: string;
      relayId: string;
      days: number;
      out?: string;
    }
  | { kind: 'authority-show'; file: string };

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
  switch (action.kind) {
    case 'fingerprint':
      return io.out(`${relayFingerprint(dataDir)}\n`);
    case 'relay-key':
      return io.out(`${relayPublicKey(dataDir)}\n`);
    case 'authority-create':
      return createAuthority(action.file, io);
    case 'authority-sign':
      return signWithAuthority(action, io);
    case 'authority-show':
      return showAuthorityOrCert(action.file, io);
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

// ---------------------------------------------------------------------------------------------
// The relay authority (docs/protocol.md section 6.1)

const AUTHORITY_FILE_TYPE = 'chatsecure-relay-authority';
const MAX_AUTHORITY_FILE_BYTES = 4096;

function relayPublicKey(dataDir: string): string {
  const key = loadRelayKey(serverDir(dataDir));
  if (!key) {
    throw new ChatError(
      'storage_failed',
      `there is no relay key in ${serverDir(dataDir)} yet; run chatsecure --serve once`,
      'admin.relay-key',
    );
  }
  return toBase64(key.publicKey);
}

function trustHint(fp: string): string {
  return (
    `Clients trust it with:  chatsecure --user NAME --trust-authority ${fp}\n` +
    `or a known_servers line: @cert-authority *.example.com:5000 ${fp}\n`
  );
}

/** A new authority key: O_CREAT|O_EXCL|O_NOFOLLOW with mode 0600, so never over a file or a symlink. */
function createAuthority(file: string, io: AdminIo): void {
  const seed = randomBytes(32);
  const kp = ed25519KeyPair(seed);
  const body = JSON.stringify({
    v: 1,
    type: AUTHORITY_FILE_TYPE,
    seed: toBase64(seed),
    publicKey: toBase64(kp.publicKey),
  });
  let fd: number | undefined;
  try {
    const flags =
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
    fd = fs.openSync(file, flags, SECRET_FILE_MODE);
    fs.fchmodSync(fd, SECRET_FILE_MODE);
    fs.writeSync(fd, `${body}\n`);
    fs.fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new ChatError('storage_failed', `${file} already exists: an authority key is never overwritten`);
    throw new ChatError('storage_failed', `could not create ${file} (${code ?? 'error'})`, 'admin.authority');
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    wipe(seed);
    wipe(kp.secretKey);
  }
  const fp = authorityFingerprint(kp.publicKey);
  io.out(
    `Created the relay authority ${fp} in ${file}. Keep this file offline and private.\n${trustHint(fp)}`,
  );
}

function readError(file: string, err: unknown): ChatError {
  if (isChatError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP')
    return new ChatError(
      'storage_failed',
      `${file} is a symbolic link: refused for a secret`,
      'admin.authority',
    );
  return new ChatError('storage_failed', `could not read ${file} (${code ?? 'error'})`, 'admin.authority');
}

/** Reads a file without following a symlink, refusing anything but a private regular file. */
function readPrivateFile(file: string): Buffer {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const st = fs.fstatSync(fd);
    if (!st.isFile())
      throw new ChatError('storage_failed', `${file} is not a regular file`, 'admin.authority');
    if ((st.mode & 0o077) !== 0) {
      throw new ChatError(
        'storage_failed',
        `${file} can be read by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it first`,
        'admin.authority',
      );
    }
    if (st.size > MAX_AUTHORITY_FILE_BYTES)
      throw new ChatError('corrupt_store', `${file} is too large to be an authority key`, 'admin.authority');
    return fs.readFileSync(fd);
  } catch (err) {
    throw readError(file, err);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The authority's key pair; the caller wipes its secret key. */
function loadAuthority(file: string): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const raw = readPrivateFile(file);
  try {
    const v = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    if (
      v.v !== 1 ||
      v.type !== AUTHORITY_FILE_TYPE ||
      typeof v.seed !== 'string' ||
      typeof v.publicKey !== 'string'
    )
      throw new Error('fields');
    const seed = fromBase64(v.seed, 32);
    const kp = ed25519KeyPair(seed);
    wipe(seed);
    if (toBase64(kp.publicKey) !== v.publicKey) throw new Error('mismatch');
    return kp;
  } catch {
    throw new ChatError(
      'corrupt_store',
      `${file} is not a relay-authority key, or it is damaged`,
      'admin.authority',
    );
  } finally {
    raw.fill(0);
  }
}

function signWithAuthority(a: Extract<AdminAction, { kind: 'authority-sign' }>, io: AdminIo): void {
  let relayKey: Uint8Array;
  try {
    relayKey = fromBase64(a.relayKey, 32);
    checkX25519Public(relayKey);
  } catch {
    throw new ChatError(
      'bad_args',
      "--relay-key must be the relay's public key: 32 bytes of base64 (chatsecure admin relay-key)",
    );
  }
  if (!RELAY_ID_PATTERN.test(a.relayId))
    throw new ChatError('bad_args', '--relay-id must be 1 to 64 letters, digits, "_", "." or "-"');
  const fields = relayCertFields(relayKey, a.relayId, Date.now(), a.days);
  const authority = loadAuthority(a.file);
  let text: string;
  let summary: string;
  try {
    const cert = signRelayCert(authority.secretKey, fields);
    text = formatRelayCertFile(cert);
    summary = certSummary(cert);
  } finally {
    wipe(authority.secretKey);
  }
  if (a.out === undefined) {
    io.out(text);
    io.err(`Signed: ${summary}\n`);
    return;
  }
  try {
    fs.writeFileSync(a.out, text, { mode: 0o644 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ChatError('storage_failed', `could not write ${a.out} (${code ?? 'error'})`, 'admin.authority');
  }
  io.out(`Wrote ${a.out}: ${summary}\nStart the relay with --relay-cert ${a.out}\n`);
}

function showAuthorityOrCert(file: string, io: AdminIo): void {
  let head: Buffer;
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    head = Buffer.alloc(RELAY_CERT_FILE_TAG.length);
    head = head.subarray(0, fs.readSync(fd, head, 0, head.length, 0));
  } catch (err) {
    throw readError(file, err);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  if (head.toString('latin1') === RELAY_CERT_FILE_TAG) {
    const cert = parseRelayCertFile(fs.readFileSync(file, 'utf8'));
    io.out(`Relay certificate: ${certSummary(cert)}\n`);
    return;
  }
  const kp = loadAuthority(file);
  wipe(kp.secretKey);
  const fp = authorityFingerprint(kp.publicKey);
  io.out(`Relay authority: ${fp}\n${trustHint(fp)}`);
}
