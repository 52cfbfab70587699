import {
  encodeEnvelope,
  envelopeToJSON,
  MAX_ENVELOPE_BYTES,
  parseEnvelope,
  type Envelope,
} from '../../lib/crypto/envelope';
import { publicIdentity } from '../../lib/crypto/identity';
import { toBase64, utf8, x25519KeyPair } from '../../lib/crypto/primitives';
import { encodeHeader } from '../../lib/crypto/ratchet/header';
import type { OurRatchetPublic } from '../../lib/crypto/ratchet/ratchet-key';
import { makeUser, seededRandom } from './e2e-helpers';
import { codeOf } from '../helpers/error-code';

describe('envelope (PROTOCOL.md section 8)', () => {
  const random = seededRandom(7);
  const alice = makeUser('Alice', 30, 0);
  const dh = x25519KeyPair(random(32)).publicKey as OurRatchetPublic;
  const ct = random(256 + 16);
  const msg: Envelope = { t: 'msg', header: encodeHeader({ type: 'msg', dh, pn: 1, n: 2 }), ct };
  const prekey: Envelope = {
    t: 'prekey',
    header: encodeHeader({ type: 'prekey', dh, pn: 0, n: 0 }),
    ct,
    x3dh: { ik: publicIdentity(alice.identity), ek: x25519KeyPair(random(32)).publicKey, spkId: 7, opkId: 9 },
  };

  test('msg envelope: exactly {"v":1,"header","ct"}', () => {
    const text = Buffer.from(encodeEnvelope(msg)).toString();
    expect(text).toBe(`{"v":1,"header":"${toBase64(msg.header)}","ct":"${toBase64(ct)}"}`);
    expect(parseEnvelope(encodeEnvelope(msg))).toEqual(msg);
  });

  test('prekey envelope adds ik, ek, spk and opk; opk is optional', () => {
    const json = envelopeToJSON(prekey);
    expect(Object.keys(json)).toEqual(['v', 'header', 'ct', 'ik', 'ek', 'spk', 'opk']);
    const back = parseEnvelope(encodeEnvelope(prekey));
    expect(back).toEqual(prekey);
    if (prekey.t !== 'prekey') throw new Error('unreachable');
    const noOpk: Envelope = { ...prekey, x3dh: { ik: prekey.x3dh.ik, ek: prekey.x3dh.ek, spkId: 7 } };
    expect(parseEnvelope(encodeEnvelope(noOpk))).toEqual(noOpk);
    expect('opk' in envelopeToJSON(noOpk)).toBe(false);
  });

  test('strict: wrong version, fields, lengths, header type or encodings are bad_message', () => {
    const m = envelopeToJSON(msg);
    const p = envelopeToJSON(prekey);
    const cases: unknown[] = [
      { ...m, v: 2 },
      { ...m, extra: 1 },
      { header: m.header, ct: m.ct },
      { ...m, header: toBase64(msg.header.subarray(0, 41)) },
      { ...m, ct: toBase64(ct.subarray(0, 200)) },
      { ...m, ct: toBase64(random(256 + 17)) },
      { ...m, ct: m.ct.replace(/=+$/, '') },
      { ...m, ik: p.ik }, // msg header with prekey fields
      { ...p, header: m.header }, // prekey fields with a msg header
      { v: 1, header: p.header, ct: p.ct }, // prekey header without its fields
      { ...p, spk: 2 ** 32 },
      { ...p, opk: '9' },
      { ...p, ek: toBase64(random(31)) },
      { ...p, ik: { ...p.ik, idcert: 'AAAA' } },
      [m],
      'string',
    ];
    for (const c of cases) expect(codeOf(() => parseEnvelope(JSON.stringify(c)))).toBe('bad_message');
    expect(codeOf(() => parseEnvelope(utf8('{"v":1,')))).toBe('bad_message');
    expect(codeOf(() => parseEnvelope(Uint8Array.of(0x7b, 0xff, 0x7d)))).toBe('bad_message');
  });

  test('an envelope larger than a frame is too_large', () => {
    expect(codeOf(() => parseEnvelope(new Uint8Array(65536).fill(0x20)))).toBe('too_large');
  });

  test('ciphertext lengths: whole pad blocks plus the tag, from one block up to 32 KiB', () => {
    const withCt = (n: number): string => JSON.stringify({ ...envelopeToJSON(msg), ct: toBase64(random(n)) });
    for (const blocks of [1, 2, 128]) expect(parseEnvelope(withCt(blocks * 256 + 16)).t).toBe('msg');
    for (const n of [16, 15, 256 + 15, 129 * 256 + 16])
      expect([n, codeOf(() => parseEnvelope(withCt(n)))]).toEqual([n, 'bad_message']);
  });

  test('the size limit counts UTF-8 bytes, and an envelope of exactly 46 KiB is not too_large', () => {
    expect(MAX_ENVELOPE_BYTES).toBe(46 * 1024);
    // 'é' is 2 bytes of UTF-8 but one UTF-16 unit: a string over the limit in bytes, not in units.
    const over = 'é'.repeat(MAX_ENVELOPE_BYTES / 2 + 1);
    expect(over.length).toBeLessThan(MAX_ENVELOPE_BYTES);
    expect(codeOf(() => parseEnvelope(over))).toBe('too_large');
    expect(codeOf(() => parseEnvelope(' '.repeat(MAX_ENVELOPE_BYTES)))).toBe('bad_message');
    expect(codeOf(() => parseEnvelope(new Uint8Array(MAX_ENVELOPE_BYTES).fill(0x20)))).toBe('bad_message');
    expect(codeOf(() => parseEnvelope(new Uint8Array(MAX_ENVELOPE_BYTES + 1).fill(0x20)))).toBe('too_large');
    // The largest real envelope fits: a prekey envelope with 32 KiB of padded plaintext.
    const big: Envelope = { ...prekey, ct: random(32 * 1024 + 16) };
    expect(encodeEnvelope(big).length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES);
    expect(parseEnvelope(encodeEnvelope(big))).toEqual(big);
  });
});
