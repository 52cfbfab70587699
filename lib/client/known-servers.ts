/**
 * Trusting the relay on first use, like SSH (PROTOCOL.md section 6). `known_servers` holds one
 * line per relay, `host:port SHA256:<fingerprint>`; `#` starts a comment line. A relay that
 * shows another key than the pinned one is refused, loudly, and never silently re-pinned.
 *
 * A line `@cert-authority PATTERN SHA256:<fingerprint>` (as SSH's `@cert-authority`) trusts a
 * relay authority for every address PATTERN matches (docs/protocol.md section 6.1): such a relay
 * must show a certificate from it, and its own key is then not pinned.
 */
import { ChatError } from '../errors';
import { constantTimeEqual, fingerprint, sha256 } from '../crypto/primitives';
import { type RelayCertificate, verifyRelayCert } from '../crypto/relay-cert';
import { readSecretFile, writeSecretFile } from '../secret-file';

/** `SHA256:` + unpadded base64 of a 32-byte SHA-256 (PROTOCOL.md section 3): 43 characters. */
const FINGERPRINT_PATTERN = /^SHA256:([A-Za-z0-9+/]{43})$/;
const HOST_PORT_PATTERN = /^([^\s#]+):(\d{1,5})$/;
/** An authority's address pattern: a host with `*` / `?` wildcards, a port or `*`. */
const HOST_PATTERN_PATTERN = /^([A-Za-z0-9.*?_:[\]-]+):(\d{1,5}|\*)$/;
export const CERT_AUTHORITY_MARKER = '@cert-authority';
const FINGERPRINT_HASH_LEN = 32;

export type ServerCheck =
  | { readonly status: 'unknown' }
  | { readonly status: 'match' }
  /** `line` is the 1-based line of the pinned entry, to tell the user what to remove. */
  | { readonly status: 'changed'; readonly pinned: string; readonly offered: string; readonly line: number };

/** The SHA-256 a fingerprint stands for; `bad_args` if it is not `SHA256:` + 43 base64 characters. */
export function parseFingerprint(fp: string): Uint8Array {
  const m = FINGERPRINT_PATTERN.exec(fp);
  const hash = m ? Buffer.from(m[1], 'base64') : undefined;
  // Strict: the 43 characters must be exactly what encoding the 32 bytes gives back.
  if (
    !m ||
    !hash ||
    hash.length !== FINGERPRINT_HASH_LEN ||
    hash.toString('base64').replace(/=+$/, '') !== m[1]
  ) {
    throw new ChatError(
      'bad_args',
      'a relay fingerprint looks like SHA256: followed by 43 base64 characters',
    );
  }
  return new Uint8Array(hash);
}

/** Fingerprints compared as the hashes they encode, in constant time (PROTOCOL.md section 2). */
export function sameFingerprint(a: string, b: string): boolean {
  return constantTimeEqual(parseFingerprint(a), parseFingerprint(b));
}

/** `host:port` as stored: the host lowercased (host names are case-insensitive), the port checked. */
export function normalizeHostPort(hostPort: string): string {
  const m = HOST_PORT_PATTERN.exec(hostPort);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) throw new ChatError('bad_args', 'a relay address looks like host:port');
  return `${m[1].toLowerCase()}:${port}`;
}

/** The normalized `host:port` a line pins, or undefined for a blank, comment or unreadable line. */
function hostOfLine(raw: string): string | undefined {
  const t = raw.trim();
  if (t === '' || t.startsWith('#')) return undefined;
  try {
    return normalizeHostPort(t.split(/\s+/)[0]);
  } catch {
    return undefined;
  }
}

interface Entry {
  readonly hostPort: string;
  readonly fingerprint: string;
  /** 1-based. */
  readonly line: number;
}

/** A `@cert-authority PATTERN SHA256:...` line. */
export interface AuthorityEntry {
  readonly pattern: string;
  readonly fingerprint: string;
  /** 1-based. */
  readonly line: number;
}

/** Whether `hostPort` (normalized) matches an authority line's pattern: `*` any run, `?` one character. */
export function hostPatternMatches(pattern: string, hostPort: string): boolean {
  const m = HOST_PATTERN_PATTERN.exec(pattern);
  const h = HOST_PORT_PATTERN.exec(hostPort);
  if (!m || !h) return false;
  if (m[2] !== '*' && Number(m[2]) !== Number(h[2])) return false;
  const glob = m[1]
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${glob}$`).test(h[1].toLowerCase());
}

function parseAuthorityLine(parts: readonly string[], line: number): AuthorityEntry | undefined {
  if (parts.length !== 3 || parts[0] !== CERT_AUTHORITY_MARKER) return undefined;
  if (!HOST_PATTERN_PATTERN.test(parts[1])) return undefined;
  const port = parts[1].slice(parts[1].lastIndexOf(':') + 1);
  if (port !== '*' && (Number(port) < 1 || Number(port) > 65535)) return undefined;
  parseFingerprint(parts[2]);
  return { pattern: parts[1], fingerprint: parts[2], line };
}

export class KnownServers {
  constructor(readonly file: string) {}

  check(hostPort: string, publicKey: Uint8Array): ServerCheck {
    const host = normalizeHostPort(hostPort);
    const offeredHash = sha256(publicKey);
    const pinned = this.entries().keys.filter((e) => e.hostPort === host);
    if (pinned.length === 0) return { status: 'unknown' };
    if (pinned.some((e) => constantTimeEqual(parseFingerprint(e.fingerprint), offeredHash)))
      return { status: 'match' };
    return {
      status: 'changed',
      pinned: pinned[0].fingerprint,
      offered: fingerprint(publicKey),
      line: pinned[0].line,
    };
  }

  /**
   * Pins a relay's key (appended, the file rewritten atomically). Pinning the same key again does
   * nothing; pinning over another key throws `server_key_changed`: `forget` it first, on purpose.
   */
  remember(hostPort: string, publicKey: Uint8Array): void {
    const result = this.check(hostPort, publicKey);
    if (result.status === 'match') return;
    if (result.status === 'changed') {
      throw new ChatError(
        'server_key_changed',
        `${hostPort} is already pinned to another key`,
        'knownServers.remember',
      );
    }
    const old = this.read();
    const sep = old.length === 0 || old.endsWith('\n') ? '' : '\n';
    writeSecretFile(this.file, `${old}${sep}${normalizeHostPort(hostPort)} ${fingerprint(publicKey)}\n`);
  }

  /** Removes every line for `hostPort`; comments and other relays stay. Returns whether any was removed. */
  forget(hostPort: string): boolean {
    const host = normalizeHostPort(hostPort);
    const lines = this.read().split('\n');
    const kept = lines.filter((l) => hostOfLine(l) !== host);
    if (kept.length === lines.length) return false;
    writeSecretFile(this.file, kept.join('\n'));
    return true;
  }

  private read(): string {
    return readSecretFile(this.file)?.toString('utf8') ?? '';
  }

  /** The authority lines whose pattern matches `hostPort` (docs/protocol.md section 6.1). */
  authoritiesFor(hostPort: string): AuthorityEntry[] {
    const host = normalizeHostPort(hostPort);
    return this.entries().authorities.filter((a) => hostPatternMatches(a.pattern, host));
  }

  /** Every entry; a malformed line is `corrupt_store` (reported, never skipped: it may be a pin). */
  private entries(): { keys: Entry[]; authorities: AuthorityEntry[] } {
    const keys: Entry[] = [];
    const authorities: AuthorityEntry[] = [];
    this.read()
      .split('\n')
      .forEach((raw, i) => {
        const t = raw.trim();
        if (t === '' || t.startsWith('#')) return;
        const parts = t.split(/\s+/);
        let entry: Entry | AuthorityEntry | undefined;
        try {
          if (parts[0] === CERT_AUTHORITY_MARKER) {
            entry = parseAuthorityLine(parts, i + 1);
          } else if (parts.length === 2) {
            parseFingerprint(parts[1]);
            entry = { hostPort: normalizeHostPort(parts[0]), fingerprint: parts[1], line: i + 1 };
          }
        } catch {
          entry = undefined;
        }
        if (!entry) {
          throw new ChatError(
            'corrupt_store',
            `${this.file} line ${i + 1} is not "host:port SHA256:fingerprint" nor ` +
              `"${CERT_AUTHORITY_MARKER} host-pattern:port SHA256:fingerprint"; fix or delete it`,
            'knownServers.read',
          );
        }
        if ('pattern' in entry) authorities.push(entry);
        else keys.push(entry);
      });
    return { keys, authorities };
  }
}

/**
 * The loud refusal of PROTOCOL.md section 6: what happened, that it may be an attack, both
 * fingerprints, and how to remove the old line if the change is expected.
 */
export function changedKeyMessage(
  hostPort: string,
  file: string,
  pinned: string,
  offered: string,
  opts: { readonly line?: number; readonly user?: string } = {},
): string {
  const bar = '@'.repeat(64);
  const where =
    opts.line !== undefined
      ? `delete line ${opts.line} of ${file}`
      : `delete the ${hostPort} line of ${file}`;
  return [
    bar,
    '@  WARNING: THE RELAY KEY HAS CHANGED!',
    bar,
    `The relay at ${hostPort} presented a different key from the one pinned before.`,
    'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY: your connection may be',
    'intercepted (a man-in-the-middle attack). It is also possible that the relay',
    "operator replaced the relay's key.",
    `  pinned key:  ${pinned}`,
    `  offered key: ${offered}`,
    'ChatSecure did not send your name or anything else to this relay, and will not',
    'connect to it. Ask the relay operator for the new fingerprint (the relay prints it',
    'on start, and `chatsecure fingerprint --serve` prints it alone) and compare.',
    'If the change is expected, remove the old entry, then connect again:',
    `  chatsecure --user ${opts.user ?? 'NAME'} --forget-server ${hostPort}`,
    `or ${where}.`,
  ].join('\n');
}

export type TrustAction = 'accept' | 'remember' | 'ask' | 'refuse';

export interface TrustDecision {
  /** accept: pinned and matching; remember: pin it now and go on; ask: a person must decide; refuse: stop. */
  readonly action: TrustAction;
  readonly reason?: string;
}

/**
 * PROTOCOL.md section 6 as a pure function. `pinnedFingerprint` is `--server-fingerprint`,
 * `offered` the fingerprint of the key the relay showed. `--accept-new-server` never overrides a
 * changed key, and a `--server-fingerprint` that disagrees with known_servers refuses.
 */
export function decideServerTrust(opts: {
  readonly check: ServerCheck;
  readonly acceptNew: boolean;
  readonly pinnedFingerprint?: string;
  readonly offered: string;
}): TrustDecision {
  const flagMatches =
    opts.pinnedFingerprint === undefined ? undefined : sameFingerprint(opts.pinnedFingerprint, opts.offered);
  switch (opts.check.status) {
    case 'changed':
      return { action: 'refuse', reason: "the relay's key differs from the one pinned in known_servers" };
    case 'match':
      if (flagMatches === false) {
        return {
          action: 'refuse',
          reason: '--server-fingerprint disagrees with the key pinned in known_servers',
        };
      }
      return { action: 'accept' };
    case 'unknown':
      if (flagMatches === true) return { action: 'remember', reason: 'the key matches --server-fingerprint' };
      if (flagMatches === false) {
        return { action: 'refuse', reason: "the relay's key does not match --server-fingerprint" };
      }
      if (opts.acceptNew) return { action: 'remember', reason: '--accept-new-server' };
      return { action: 'ask', reason: 'this relay is not in known_servers yet' };
    default: {
      const never: never = opts.check;
      throw new ChatError('bad_state', `unknown check result ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Docs/protocol.md section 6.1, the client's side: the authorities trusted for this relay are the
 * `--trust-authority` fingerprints plus the `@cert-authority` lines matching its address. With
 * none, this returns `undefined` and the TOFU rules above decide, unchanged (a certificate the
 * relay sent is then ignored). With one or more, the relay must show a certificate that
 * `verifyRelayCert` accepts (signature, certified key equal to the handshake's static key,
 * validity), or the handshake stops before message 3 with `server_cert_invalid` or
 * `server_cert_expired`; the relay's own key is not pinned then.
 */
export function checkRelayAuthority(opts: {
  readonly knownServers: KnownServers;
  readonly hostPort: string;
  readonly trustAuthorities?: readonly string[];
  readonly relayKey: Uint8Array;
  readonly cert: RelayCertificate | undefined;
  readonly nowMs: number;
}): RelayCertificate | undefined {
  const fingerprints = [
    ...(opts.trustAuthorities ?? []),
    ...opts.knownServers.authoritiesFor(opts.hostPort).map((a) => a.fingerprint),
  ];
  if (fingerprints.length === 0) return undefined;
  if (!opts.cert) {
    throw new ChatError(
      'server_cert_invalid',
      `the relay at ${opts.hostPort} showed no certificate, but a relay authority is trusted for it; ` +
        'nothing was sent to it',
      'knownServers.authority',
    );
  }
  try {
    verifyRelayCert(opts.cert, {
      trusted: fingerprints.map(parseFingerprint),
      relayKey: opts.relayKey,
      nowMs: opts.nowMs,
    });
  } catch (err) {
    if (err instanceof ChatError)
      throw new ChatError(
        err.code,
        `${opts.hostPort}: ${err.message}; nothing was sent to it`,
        err.operation,
      );
    throw err;
  }
  return opts.cert;
}
