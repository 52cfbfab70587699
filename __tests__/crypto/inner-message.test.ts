import {
  encodeInnerMessage,
  MAX_BODY_BYTES,
  parseInnerMessage,
  type InnerMessage,
} from '../../lib/crypto/inner-message';
import { utf8 } from '../../lib/crypto/primitives';
import { codeOf } from '../helpers/error-code';

const ID = '0123456789abcdef0123456789abcdef';

function padded(json: string): Uint8Array {
  const raw = utf8(json);
  const out = new Uint8Array(Math.ceil(raw.length / 256) * 256).fill(0x20);
  out.set(raw);
  return out;
}

describe('inner plaintext (PROTOCOL.md section 8)', () => {
  test.each<InnerMessage>([
    { kind: 'text', id: ID, ts: 1767225600000, body: 'hello, Bob 👋' },
    { kind: 'receipt', of: [ID, 'f'.repeat(32)], state: 'read' },
    { kind: 'receipt', of: [ID], state: 'delivered' },
    { kind: 'typing', on: true },
    { kind: 'typing', on: false },
  ])('%o round-trips, padded with spaces to a multiple of 256', (m) => {
    const bytes = encodeInnerMessage(m);
    expect(bytes.length % 256).toBe(0);
    expect(bytes[bytes.length - 1]).toBe(0x20);
    expect(parseInnerMessage(bytes)).toEqual(m);
  });

  test('the exact JSON layout', () => {
    const bytes = encodeInnerMessage({ kind: 'text', id: ID, ts: 5, body: 'hi' });
    expect(Buffer.from(bytes).toString().trimEnd()).toBe(`{"kind":"text","id":"${ID}","ts":5,"body":"hi"}`);
    expect(bytes).toHaveLength(256);
  });

  test('a body of 16 KiB passes, one byte more is too_large', () => {
    const ok = encodeInnerMessage({ kind: 'text', id: ID, ts: 1, body: 'x'.repeat(MAX_BODY_BYTES) });
    expect(ok.length % 256).toBe(0);
    expect(
      codeOf(() => encodeInnerMessage({ kind: 'text', id: ID, ts: 1, body: 'x'.repeat(MAX_BODY_BYTES + 1) })),
    ).toBe('too_large');
    // Multibyte characters count as their UTF-8 bytes.
    expect(
      codeOf(() =>
        encodeInnerMessage({ kind: 'text', id: ID, ts: 1, body: 'é'.repeat(MAX_BODY_BYTES / 2 + 1) }),
      ),
    ).toBe('too_large');
  });

  test('a body that escapes to more than 32 KiB of JSON is too_large', () => {
    // Each control character becomes a 6-byte \u escape in JSON.
    expect(
      codeOf(() => encodeInnerMessage({ kind: 'text', id: ID, ts: 1, body: '\u0001'.repeat(6000) })),
    ).toBe('too_large');
  });

  test('a receipt with too many ids to fit is too_large', () => {
    const of = Array.from({ length: 1000 }, (_, i) => i.toString(16).padStart(32, '0'));
    expect(codeOf(() => encodeInnerMessage({ kind: 'receipt', of, state: 'read' }))).toBe('too_large');
  });

  test('strict parsing: bad padding, fields or kinds are bad_message', () => {
    const bad = [
      new Uint8Array(0),
      utf8('{"kind":"typing","on":true}'),
      new Uint8Array(512).fill(0x20),
      (() => {
        const b = new Uint8Array(512).fill(0x20);
        b.set(utf8('{"kind":"typing","on":true}'));
        return b; // 256 or more spaces of padding
      })(),
      padded('{"kind":"typing","on":1}'),
      padded('{"kind":"typing","on":true,"extra":1}'),
      padded('{"kind":"shout","on":true}'),
      padded('{"kind":"text","id":"ABC","ts":1,"body":"x"}'),
      padded(`{"kind":"text","id":"${ID}","ts":-1,"body":"x"}`),
      padded(`{"kind":"text","id":"${ID}","ts":1.5,"body":"x"}`),
      padded(`{"kind":"receipt","of":[],"state":"read"}`),
      padded(`{"kind":"receipt","of":["${ID}"],"state":"seen"}`),
      padded('[1,2]'),
      padded('{"kind":"typing","on":true'),
      Uint8Array.from([...padded('{"kind":"typing","on":true}')].map((b, i) => (i === 3 ? 0xff : b))),
    ];
    for (const b of bad) expect(codeOf(() => parseInnerMessage(b))).toBe('bad_message');
  });
});
