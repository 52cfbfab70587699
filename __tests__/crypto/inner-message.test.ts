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

describe('inner plaintext: the sender refuses what the receiver would refuse', () => {
  test.each<[string, InnerMessage]>([
    ['a negative ts', { kind: 'text', id: ID, ts: -1, body: 'x' }],
    ['a fractional ts', { kind: 'text', id: ID, ts: 1.5, body: 'x' }],
    ['an id with a character before it', { kind: 'text', id: `g${ID}`, ts: 1, body: 'x' }],
    ['an id with a character after it', { kind: 'text', id: `${ID}g`, ts: 1, body: 'x' }],
    ['a receipt with one bad id among good ones', { kind: 'receipt', of: [ID, 'nope'], state: 'read' }],
    ['a receipt in an unknown state', { kind: 'receipt', of: [ID], state: 'seen' as 'read' }],
    ['typing that is not true or false', { kind: 'typing', on: 1 as unknown as boolean }],
  ])('%s is bad_message', (_, m) => {
    expect(codeOf(() => encodeInnerMessage(m))).toBe('bad_message');
  });

  test('ts 0 (the epoch) is a valid time', () => {
    const m: InnerMessage = { kind: 'text', id: ID, ts: 0, body: 'x' };
    expect(parseInnerMessage(encodeInnerMessage(m))).toEqual(m);
  });
});

describe('inner plaintext: the size limits are exact', () => {
  /** A text message whose JSON is exactly `size` bytes (the body made of 6-byte \u escapes and 'a's). */
  function textOfJsonSize(size: number): InnerMessage {
    const overhead = utf8(JSON.stringify({ kind: 'text', id: ID, ts: 1, body: '' })).length;
    const room = size - overhead;
    const escapes = Math.floor(room / 6);
    const body = '\u0001'.repeat(escapes) + 'a'.repeat(room - escapes * 6);
    const m: InnerMessage = { kind: 'text', id: ID, ts: 1, body };
    expect(utf8(JSON.stringify(m)).length).toBe(size);
    return m;
  }

  test('a message of exactly 32 KiB of JSON is sent and read; one byte more is too_large', () => {
    const m = textOfJsonSize(32 * 1024);
    const bytes = encodeInnerMessage(m);
    expect(bytes).toHaveLength(32 * 1024);
    expect(parseInnerMessage(bytes)).toEqual(m);
    expect(codeOf(() => encodeInnerMessage(textOfJsonSize(32 * 1024 + 1)))).toBe('too_large');
  });

  test('a received plaintext over 32 KiB is too_large, even when well padded', () => {
    const big = new Uint8Array(32 * 1024 + 256).fill(0x20);
    big.set(utf8(JSON.stringify(textOfJsonSize(32 * 1024 + 100))));
    expect(codeOf(() => parseInnerMessage(big))).toBe('too_large');
  });

  test('padding: a length that is not a multiple of 256 is refused, as are 256 spaces or more', () => {
    const json = '{"kind":"typing","on":true}';
    const odd = new Uint8Array(300).fill(0x20);
    odd.set(utf8(json));
    expect(codeOf(() => parseInnerMessage(odd))).toBe('bad_message');
    // JSON of exactly one block, then a whole block of spaces.
    const block = `{"kind":"typing","on":true${' '.repeat(256 - json.length)}}`;
    expect(block).toHaveLength(256);
    expect(parseInnerMessage(utf8(block))).toEqual({ kind: 'typing', on: true });
    const extra = new Uint8Array(512).fill(0x20);
    extra.set(utf8(block));
    expect(codeOf(() => parseInnerMessage(extra))).toBe('bad_message');
    const justUnder = new Uint8Array(512).fill(0x20);
    justUnder.set(utf8(`{"kind":"typing","on":true${' '.repeat(256 - json.length + 1)}}`));
    expect(parseInnerMessage(justUnder)).toEqual({ kind: 'typing', on: true });
  });

  test('receipt ids must be strings: an id wrapped in an array is bad_message', () => {
    expect(
      codeOf(() => parseInnerMessage(padded(`{"kind":"receipt","of":[["${ID}"]],"state":"read"}`))),
    ).toBe('bad_message');
    expect(
      codeOf(() => encodeInnerMessage({ kind: 'receipt', of: [[ID] as unknown as string], state: 'read' })),
    ).toBe('bad_message');
  });
});
