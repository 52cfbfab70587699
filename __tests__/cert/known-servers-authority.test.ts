/**
 * The client's side of docs/protocol.md section 6.1: `@cert-authority` lines in known_servers,
 * `--trust-authority`, and the decision made before message 3 (checkRelayAuthority).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkRelayAuthority, hostPatternMatches, KnownServers } from '../../lib/client/known-servers';
import { ed25519KeyPair, fingerprint, x25519KeyPair } from '../../lib/crypto/primitives';
import { relayCertFields, signRelayCert } from '../../lib/crypto/relay-cert';
import { codeOf } from '../helpers/error-code';
import { tempDir } from '../helpers/relay-harness';

const authority = ed25519KeyPair();
const other = ed25519KeyPair();
const relay = x25519KeyPair();
const NOW = Date.now();
const cert = signRelayCert(authority.secretKey, relayCertFields(relay.publicKey, 'relay-1', NOW, 30));

let dir: string;
let file: string;
beforeEach(() => {
  dir = tempDir('chatsecure-authority-');
  file = path.join(dir, 'known_servers');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function decide(
  ks: KnownServers,
  hostPort: string,
  extra: Partial<Parameters<typeof checkRelayAuthority>[0]> = {},
) {
  return checkRelayAuthority({
    knownServers: ks,
    hostPort,
    relayKey: relay.publicKey,
    cert,
    nowMs: NOW,
    ...extra,
  });
}

describe('@cert-authority lines', () => {
  it('match host patterns with * and ?, case-insensitively, on a given port or any', () => {
    expect(hostPatternMatches('*.example.com:5000', 'relay1.example.com:5000')).toBe(true);
    expect(hostPatternMatches('*.example.com:5000', 'Relay1.EXAMPLE.com:5000'.toLowerCase())).toBe(true);
    expect(hostPatternMatches('*.example.com:5000', 'example.com:5000')).toBe(false);
    expect(hostPatternMatches('*.example.com:5000', 'relay1.example.com:5001')).toBe(false);
    expect(hostPatternMatches('*.example.com:5000', 'relay1.example.com.evil.org:5000')).toBe(false);
    expect(hostPatternMatches('relay?.example.com:*', 'relay7.example.com:6000')).toBe(true);
    expect(hostPatternMatches('relay?.example.com:*', 'relay10.example.com:6000')).toBe(false);
    // A dot is a dot, not "any character".
    expect(hostPatternMatches('a.b:1', 'axb:1')).toBe(false);
    expect(hostPatternMatches('127.0.0.1:*', '127.0.0.1:5000')).toBe(true);
  });

  it('are read beside key pins; forget leaves them; a malformed one is corrupt_store', () => {
    const fp = fingerprint(authority.publicKey);
    fs.writeFileSync(
      file,
      `# relays\n@cert-authority *.example.com:5000 ${fp}\nrelay.other:5000 ${fingerprint(relay.publicKey)}\n`,
    );
    const ks = new KnownServers(file);
    expect(ks.authoritiesFor('a.example.com:5000')).toEqual([
      { pattern: '*.example.com:5000', fingerprint: fp, line: 2 },
    ]);
    expect(ks.authoritiesFor('relay.other:5000')).toEqual([]);
    expect(ks.check('relay.other:5000', relay.publicKey)).toEqual({ status: 'match' });
    expect(ks.forget('relay.other:5000')).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toContain(`@cert-authority *.example.com:5000 ${fp}`);
    for (const bad of [
      `@cert-authority *.example.com ${fp}`,
      `@cert-authority *.example.com:5000`,
      `@cert-authority *.example.com:99999 ${fp}`,
      `@cert-authority *.example.com:5000 SHA256:short`,
      `@cert-authority a b:1 ${fp}`,
      `@revoked *.example.com:5000 ${fp}`,
    ]) {
      fs.writeFileSync(file, `${bad}\n`);
      expect([bad, codeOf(() => new KnownServers(file).authoritiesFor('x.example.com:5000'))]).toEqual([
        bad,
        'corrupt_store',
      ]);
    }
  });
});

describe('checkRelayAuthority', () => {
  it('leaves TOFU alone when no authority is trusted for the address, even if the relay sent a certificate', () => {
    const ks = new KnownServers(file);
    expect(decide(ks, '127.0.0.1:5000')).toBeUndefined();
    expect(decide(ks, '127.0.0.1:5000', { cert: undefined })).toBeUndefined();
    // Nothing is written: a certificate never pins anything by itself.
    expect(fs.existsSync(file)).toBe(false);
  });

  it('accepts a valid certificate from a --trust-authority fingerprint or a matching line', () => {
    const fp = fingerprint(authority.publicKey);
    expect(decide(new KnownServers(file), '127.0.0.1:5000', { trustAuthorities: [fp] })?.relayId).toBe(
      'relay-1',
    );
    fs.writeFileSync(file, `@cert-authority 127.0.0.*:* ${fp}\n`);
    expect(decide(new KnownServers(file), '127.0.0.1:5000')?.relayId).toBe('relay-1');
    // The line does not cover another address: TOFU there.
    expect(decide(new KnownServers(file), 'localhost:5000')).toBeUndefined();
  });

  it('refuses, naming the address, a relay without a certificate, or with a bad one, once an authority is trusted', () => {
    const ks = new KnownServers(file);
    const trust = { trustAuthorities: [fingerprint(authority.publicKey)] };
    expect(codeOf(() => decide(ks, 'h:1', { ...trust, cert: undefined }))).toBe('server_cert_invalid');
    expect(() => decide(ks, 'h:1', { ...trust, cert: undefined })).toThrow(/h:1 showed no certificate/);
    expect(codeOf(() => decide(ks, 'h:1', { ...trust, relayKey: x25519KeyPair().publicKey }))).toBe(
      'server_cert_invalid',
    );
    expect(codeOf(() => decide(ks, 'h:1', { trustAuthorities: [fingerprint(other.publicKey)] }))).toBe(
      'server_cert_invalid',
    );
    expect(codeOf(() => decide(ks, 'h:1', { ...trust, nowMs: NOW + 31 * 86_400_000 }))).toBe(
      'server_cert_expired',
    );
    expect(() => decide(ks, 'h:1', { ...trust, nowMs: NOW + 31 * 86_400_000 })).toThrow(
      /^h:1: the relay's certificate expired at .*; nothing was sent to it$/,
    );
  });
});
