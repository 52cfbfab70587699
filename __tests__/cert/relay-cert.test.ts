/**
 * Relay certificates (docs/protocol.md section 6.1): the format, the signature and the checks a
 * client makes before Noise message 3, and the strict parser at the edge (lib/net).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import {
  authorityFingerprint,
  decodeRelayCert,
  formatRelayCertFile,
  parseRelayCertFile,
  RELAY_CERT_MAX_LEN,
  RELAY_CERT_MIN_LEN,
  type RelayCertificate,
  relayCertFields,
  signRelayCert,
  verifyRelayCert,
} from '../../lib/crypto/relay-cert';
import {
  ed25519KeyPair,
  fromBase64,
  sha256,
  toBase64,
  utf8,
  x25519KeyPair,
} from '../../lib/crypto/primitives';
import { parseServerInfo, serializeServerInfo } from '../../lib/net/handshake-payloads';
import { codeOf } from '../helpers/error-code';

const authority = ed25519KeyPair();
const otherAuthority = ed25519KeyPair();
const relay = x25519KeyPair();
const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);
const DAY_MS = 86_400_000;

function certFor(
  relayKey = relay.publicKey,
  days = 30,
  signer = authority,
  id = 'relay-1',
): RelayCertificate {
  return signRelayCert(signer.secretKey, relayCertFields(relayKey, id, NOW, days));
}

const trusted = [sha256(authority.publicKey)];
const check = (cert: RelayCertificate, nowMs = NOW, relayKey = relay.publicKey, t = trusted) =>
  codeOf(() => verifyRelayCert(cert, { trusted: t, relayKey, nowMs }));

describe('signing and verifying', () => {
  it('accepts a certificate from a trusted authority for the handshake key, inside its validity', () => {
    const cert = certFor();
    expect(check(cert)).toBeUndefined();
    expect(cert.relayId).toBe('relay-1');
    expect(cert.notAfter - cert.notBefore).toBe(30 * 86_400);
    // Backdated 5 minutes: a client clock a little behind still accepts it.
    expect(check(cert, NOW - 4 * 60_000)).toBeUndefined();
    // One of several pinned authorities is enough.
    expect(check(cert, NOW, relay.publicKey, [sha256(otherAuthority.publicKey), ...trusted])).toBeUndefined();
  });

  it('refuses an expired certificate, and one not valid yet, with server_cert_expired', () => {
    const cert = certFor(relay.publicKey, 1);
    expect(check(cert, NOW + DAY_MS)).toBe('server_cert_expired');
    expect(check(cert, cert.notAfter * 1000)).toBe('server_cert_expired');
    expect(check(cert, cert.notAfter * 1000 - 1000)).toBeUndefined();
    expect(check(cert, NOW - 10 * 60_000)).toBe('server_cert_expired');
    expect(() => verifyRelayCert(cert, { trusted, relayKey: relay.publicKey, nowMs: NOW + DAY_MS })).toThrow(
      /expired at 2026-12-03T11:55:00Z/,
    );
  });

  it('refuses a certificate from an authority nobody pinned, naming it', () => {
    const cert = certFor(relay.publicKey, 30, otherAuthority);
    expect(check(cert)).toBe('server_cert_invalid');
    expect(() => verifyRelayCert(cert, { trusted, relayKey: relay.publicKey, nowMs: NOW })).toThrow(
      authorityFingerprint(otherAuthority.publicKey),
    );
    expect(check(cert, NOW, relay.publicKey, [])).toBe('server_cert_invalid');
  });

  it('refuses a certificate for another key than the one the handshake authenticated', () => {
    const cert = certFor(x25519KeyPair().publicKey);
    expect(check(cert)).toBe('server_cert_invalid');
    expect(() => verifyRelayCert(cert, { trusted, relayKey: relay.publicKey, nowMs: NOW })).toThrow(
      /certificate is for the key SHA256:/,
    );
  });

  it('refuses a signature made by another key over the same fields (a forged authority key field)', () => {
    // The body names the trusted authority, but another key signed it.
    const good = certFor();
    const forged = signRelayCert(
      otherAuthority.secretKey,
      relayCertFields(relay.publicKey, 'relay-1', NOW, 30),
    );
    const spliced = new Uint8Array(good.bytes);
    spliced.set(forged.signature, good.body.length);
    expect(check(decodeRelayCert(spliced))).toBe('server_cert_invalid');
  });

  it('fails on every single tampered byte (property)', () => {
    const cert = certFor();
    fc.assert(
      fc.property(fc.nat(cert.bytes.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const b = new Uint8Array(cert.bytes);
        b[i] ^= x;
        const code = codeOf(() =>
          verifyRelayCert(decodeRelayCert(b), { trusted, relayKey: relay.publicKey, nowMs: NOW }),
        );
        expect(code).toBe('server_cert_invalid');
      }),
      { numRuns: 400 },
    );
  });

  it('refuses to sign bad fields: a bad relay id, a bad number of days, a small-order relay key', () => {
    expect(codeOf(() => certFor(relay.publicKey, 30, authority, 'bad id'))).toBe('server_cert_invalid');
    expect(codeOf(() => certFor(relay.publicKey, 30, authority, 'x'.repeat(65)))).toBe('server_cert_invalid');
    expect(codeOf(() => certFor(relay.publicKey, 0))).toBe('bad_args');
    expect(codeOf(() => certFor(relay.publicKey, 3651))).toBe('bad_args');
    expect(codeOf(() => certFor(new Uint8Array(32)))).toBe('bad_key');
  });
});

describe('the test vector of docs/protocol.md 6.1', () => {
  it('is reproduced byte for byte, and verifies inside its window', () => {
    const ca = ed25519KeyPair(new Uint8Array(32).fill(1));
    const rk = x25519KeyPair(new Uint8Array(32).fill(2));
    const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'protocol.md'), 'utf8');
    const block = /so the certificate is, in base64:\n\n```\n([A-Za-z0-9+/=\n]+)```/.exec(doc);
    const documented = (block?.[1] ?? '').replace(/\n/g, '');
    expect(documented).toHaveLength(204);
    const cert = signRelayCert(ca.secretKey, {
      relayKey: rk.publicKey,
      relayId: 'relay-1',
      notBefore: 1767225600,
      notAfter: 1775001600,
    });
    expect(toBase64(cert.bytes)).toBe(documented);
    expect(doc).toContain(authorityFingerprint(ca.publicKey));
    const opts = { trusted: [sha256(ca.publicKey)], relayKey: rk.publicKey };
    expect(
      codeOf(() =>
        verifyRelayCert(decodeRelayCert(fromBase64(documented)), { ...opts, nowMs: Date.UTC(2026, 1, 1) }),
      ),
    ).toBeUndefined();
    expect(codeOf(() => verifyRelayCert(cert, { ...opts, nowMs: Date.UTC(2026, 3, 1) }))).toBe(
      'server_cert_expired',
    );
  });
});

describe('the strict parser', () => {
  const cert = certFor(relay.publicKey, 30, authority, 'r'.repeat(64));

  it('takes 147 to 210 bytes, and exactly the length its relay id says', () => {
    expect(cert.bytes.length).toBe(RELAY_CERT_MAX_LEN);
    expect(certFor(relay.publicKey, 30, authority, 'r').bytes.length).toBe(RELAY_CERT_MIN_LEN);
    expect(codeOf(() => decodeRelayCert(cert.bytes.subarray(0, cert.bytes.length - 1)))).toBe(
      'server_cert_invalid',
    );
    const longer = new Uint8Array(cert.bytes.length + 1);
    longer.set(cert.bytes);
    expect(codeOf(() => decodeRelayCert(longer))).toBe('server_cert_invalid');
    expect(codeOf(() => decodeRelayCert(new Uint8Array(0)))).toBe('server_cert_invalid');
  });

  it('refuses another version, a time out of range or in the wrong order, and a control character in the id', () => {
    const base = certFor(relay.publicKey, 30, authority, 'relay-1');
    const mutate = (f: (b: Uint8Array, v: DataView) => void) => {
      const b = new Uint8Array(base.bytes);
      f(b, new DataView(b.buffer));
      return codeOf(() => decodeRelayCert(b));
    };
    expect(mutate((b) => (b[0] = 2))).toBe('server_cert_invalid');
    expect(mutate((_, v) => v.setBigUint64(65, 2n ** 63n))).toBe('server_cert_invalid');
    expect(mutate((_, v) => v.setBigUint64(73, BigInt(base.notBefore)))).toBe('server_cert_invalid');
    expect(mutate((_, v) => v.setBigUint64(73, BigInt(base.notBefore + 3651 * 86_400)))).toBe(
      'server_cert_invalid',
    );
    expect(mutate((b) => (b[82] = 0x1b))).toBe('server_cert_invalid');
    expect(mutate((b) => b.fill(0, 1, 33))).toBe('server_cert_invalid');
    // The untouched bytes parse.
    expect(mutate(() => undefined)).toBeUndefined();
  });

  it('never throws anything but server_cert_invalid on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (b) => {
        const code = codeOf(() => decodeRelayCert(b));
        expect(code === undefined || code === 'server_cert_invalid').toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('the ServerInfo cert field: round trip, and strict refusals of an oversized or malformed value', () => {
    const info = { server: 'chatsecure-relay', version: '0.1.0', limits: { frame: 65535 }, cert };
    const back = parseServerInfo(serializeServerInfo(info));
    expect(back.cert && toBase64(back.cert.bytes)).toBe(toBase64(cert.bytes));
    expect(parseServerInfo(serializeServerInfo({ ...info, cert: undefined })).cert).toBeUndefined();
    const withCert = (c: unknown) =>
      codeOf(() => parseServerInfo(utf8(JSON.stringify({ server: 's', version: 'v', limits: {}, cert: c }))));
    expect(withCert(toBase64(new Uint8Array(RELAY_CERT_MAX_LEN + 3)))).toBe('server_cert_invalid');
    expect(withCert('A'.repeat(1000))).toBe('server_cert_invalid');
    // Past the frame, the whole payload is refused before the field is looked at.
    expect(withCert('A'.repeat(100_000))).toBe('too_large');
    const padded = toBase64(certFor(relay.publicKey, 30, authority, 'ab').bytes);
    expect(padded).toMatch(/==$/);
    expect(withCert(padded)).toBeUndefined();
    expect(withCert(padded.replace(/==$/, ''))).toBe('server_cert_invalid');
    expect(withCert(` ${toBase64(cert.bytes)}`)).toBe('server_cert_invalid');
    expect(withCert(42)).toBe('server_cert_invalid');
    expect(withCert({ bytes: toBase64(cert.bytes) })).toBe('server_cert_invalid');
    expect(withCert(null)).toBe('server_cert_invalid');
  });

  it('the certificate file: one tagged line, parsed strictly', () => {
    const text = formatRelayCertFile(cert);
    expect(text).toMatch(/^chatsecure-relay-cert-v1 [A-Za-z0-9+/=]+\n$/);
    expect(toBase64(parseRelayCertFile(text).bytes)).toBe(toBase64(cert.bytes));
    expect(codeOf(() => parseRelayCertFile(text.replace('v1', 'v2')))).toBe('server_cert_invalid');
    expect(codeOf(() => parseRelayCertFile(`${text}extra\n`))).toBe('server_cert_invalid');
    const padded = formatRelayCertFile(certFor(relay.publicKey, 30, authority, 'ab'));
    expect(parseRelayCertFile(padded).relayId).toBe('ab');
    expect(codeOf(() => parseRelayCertFile(padded.replace(/==\n$/, '\n')))).toBe('server_cert_invalid');
  });
});
