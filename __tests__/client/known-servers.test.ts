import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fingerprint, x25519KeyPair } from '../../lib/crypto/primitives';
import { isChatError } from '../../lib/errors';
import {
  changedKeyMessage,
  decideServerTrust,
  KnownServers,
  normalizeHostPort,
  parseFingerprint,
  type ServerCheck,
} from '../../lib/client/known-servers';

let tmp: string;
let file: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-known-'));
  file = path.join(tmp, 'users', 'adam', 'known_servers');
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const relayKey = x25519KeyPair().publicKey;
const otherKey = x25519KeyPair().publicKey;

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return isChatError(err) ? err.code : 'not a ChatError';
  }
}

describe('KnownServers', () => {
  it('reports an unknown relay, then a match once remembered, in a 0600 file', () => {
    const ks = new KnownServers(file);
    expect(ks.check('127.0.0.1:5000', relayKey)).toEqual({ status: 'unknown' });
    ks.remember('127.0.0.1:5000', relayKey);
    expect(ks.check('127.0.0.1:5000', relayKey)).toEqual({ status: 'match' });
    expect(fs.readFileSync(file, 'utf8')).toBe(`127.0.0.1:5000 ${fingerprint(relayKey)}\n`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    // Another port is another relay.
    expect(ks.check('127.0.0.1:5001', relayKey)).toEqual({ status: 'unknown' });
  });

  it('reports a changed key with both fingerprints and the pinned line', () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `# my relays\n\nrelay.example:5000 ${fingerprint(relayKey)}\n`);
    const ks = new KnownServers(file);
    expect(ks.check('relay.example:5000', otherKey)).toEqual({
      status: 'changed',
      pinned: fingerprint(relayKey),
      offered: fingerprint(otherKey),
      line: 3,
    });
  });

  it('treats host names case-insensitively and ignores comments and blank lines', () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(
      file,
      `#Relay.Example:5000 ${fingerprint(otherKey)}\n   \nRelay.Example:5000 ${fingerprint(relayKey)}`,
    );
    const ks = new KnownServers(file);
    expect(ks.check('relay.EXAMPLE:5000', relayKey)).toEqual({ status: 'match' });
  });

  it('refuses to re-pin over a changed key until it is forgotten', () => {
    const ks = new KnownServers(file);
    ks.remember('h:1', relayKey);
    expect(codeOf(() => ks.remember('h:1', otherKey))).toBe('server_key_changed');
    ks.remember('h:1', relayKey); // the same key again changes nothing
    expect(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
    expect(ks.forget('h:1')).toBe(true);
    expect(ks.check('h:1', otherKey)).toEqual({ status: 'unknown' });
    ks.remember('h:1', otherKey);
    expect(ks.check('h:1', otherKey)).toEqual({ status: 'match' });
  });

  it('forget keeps comments and other relays, and says when there was nothing to forget', () => {
    const ks = new KnownServers(file);
    expect(ks.forget('h:1')).toBe(false);
    ks.remember('a:1', relayKey);
    fs.appendFileSync(file, '# keep me\n');
    ks.remember('b:2', otherKey);
    expect(ks.forget('A:1')).toBe(true);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('# keep me');
    expect(text).toContain(`b:2 ${fingerprint(otherKey)}`);
    expect(text).not.toContain('a:1');
    expect(ks.check('b:2', otherKey)).toEqual({ status: 'match' });
  });

  it('appends to a file without a final newline', () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `a:1 ${fingerprint(relayKey)}`);
    const ks = new KnownServers(file);
    ks.remember('b:2', otherKey);
    expect(ks.check('a:1', relayKey)).toEqual({ status: 'match' });
    expect(ks.check('b:2', otherKey)).toEqual({ status: 'match' });
  });

  it('reports a malformed line as corrupt_store instead of skipping a possible pin', () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    for (const bad of [
      'a:1',
      `a:1 ${fingerprint(relayKey)} extra`,
      'a:1 SHA256:short',
      `a ${fingerprint(relayKey)}`,
    ]) {
      fs.writeFileSync(file, `${bad}\n`);
      expect(codeOf(() => new KnownServers(file).check('a:1', relayKey))).toBe('corrupt_store');
    }
  });

  it('refuses a malformed host:port with bad_args', () => {
    const ks = new KnownServers(file);
    for (const bad of ['nohost', 'h:0', 'h:70000', 'h :1', '#h:1', 'h:x']) {
      expect(codeOf(() => ks.check(bad, relayKey))).toBe('bad_args');
    }
    expect(normalizeHostPort('[::1]:05000')).toBe('[::1]:5000');
  });
});

describe('parseFingerprint', () => {
  it('accepts the SSH form and refuses anything else with bad_args', () => {
    expect(parseFingerprint(fingerprint(relayKey))).toHaveLength(32);
    const fp = fingerprint(relayKey);
    for (const bad of [
      fp + '=',
      fp.slice(0, -1),
      'sha256:' + fp.slice(7),
      fp.slice(7),
      fp.replace(/.$/, '!'),
    ]) {
      expect(codeOf(() => parseFingerprint(bad))).toBe('bad_args');
    }
  });
});

describe('changedKeyMessage', () => {
  it('says the key changed, that it may be an attack, shows both fingerprints and how to remove the line', () => {
    const msg = changedKeyMessage('relay.example:5000', file, fingerprint(relayKey), fingerprint(otherKey), {
      line: 3,
      user: 'Adam',
    });
    expect(msg.split('\n').length).toBeGreaterThan(5);
    expect(msg).toMatch(/KEY HAS CHANGED/);
    expect(msg).toMatch(/man-in-the-middle/);
    expect(msg).toContain(fingerprint(relayKey));
    expect(msg).toContain(fingerprint(otherKey));
    expect(msg).toContain('chatsecure --user Adam --forget-server relay.example:5000');
    expect(msg).toContain(`delete line 3 of ${file}`);
  });
});

describe('decideServerTrust (PROTOCOL.md section 6)', () => {
  const offered = fingerprint(relayKey);
  const other = fingerprint(otherKey);
  const unknown: ServerCheck = { status: 'unknown' };
  const match: ServerCheck = { status: 'match' };
  const changed: ServerCheck = { status: 'changed', pinned: other, offered, line: 1 };

  it.each([
    ['unknown, no flags: ask a person', unknown, false, undefined, 'ask'],
    ['unknown with --accept-new-server: remember', unknown, true, undefined, 'remember'],
    ['unknown with a matching --server-fingerprint: remember', unknown, false, offered, 'remember'],
    ['unknown with a different --server-fingerprint: refuse', unknown, false, other, 'refuse'],
    [
      'unknown, --accept-new-server but a different --server-fingerprint: refuse',
      unknown,
      true,
      other,
      'refuse',
    ],
    ['match: accept', match, false, undefined, 'accept'],
    ['match with --accept-new-server: accept', match, true, undefined, 'accept'],
    ['match with the same --server-fingerprint: accept', match, false, offered, 'accept'],
    ['match but --server-fingerprint disagrees with known_servers: refuse', match, false, other, 'refuse'],
    ['changed: refuse', changed, false, undefined, 'refuse'],
    ['changed: --accept-new-server never overrides it', changed, true, undefined, 'refuse'],
    [
      'changed: a --server-fingerprint for the new key still disagrees with known_servers',
      changed,
      true,
      offered,
      'refuse',
    ],
  ] as const)('%s', (_what, check, acceptNew, pinnedFingerprint, action) => {
    const d = decideServerTrust({ check, acceptNew, pinnedFingerprint, offered });
    expect(d.action).toBe(action);
    if (action === 'refuse') expect(d.reason).toBeTruthy();
  });

  it('refuses a malformed --server-fingerprint with bad_args', () => {
    expect(
      codeOf(() =>
        decideServerTrust({ check: unknown, acceptNew: false, pinnedFingerprint: 'abc', offered }),
      ),
    ).toBe('bad_args');
  });

  it('works end to end with a real known_servers file', () => {
    const ks = new KnownServers(file);
    const first = decideServerTrust({ check: ks.check('h:1', relayKey), acceptNew: true, offered });
    expect(first.action).toBe('remember');
    ks.remember('h:1', relayKey);
    const again = decideServerTrust({ check: ks.check('h:1', relayKey), acceptNew: false, offered });
    expect(again.action).toBe('accept');
    const swapped = decideServerTrust({ check: ks.check('h:1', otherKey), acceptNew: true, offered: other });
    expect(swapped.action).toBe('refuse');
  });
});
