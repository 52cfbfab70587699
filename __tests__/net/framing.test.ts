import fc from 'fast-check';
import { isChatError } from '../../lib/errors';
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES, MAX_FRAME_PAYLOAD } from '../../lib/net/framing';

/** Splits `data` at the given cut points (any order, duplicates allowed). */
function splitAt(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, data.length]) {
    out.push(data.subarray(prev, p));
    prev = p;
  }
  return out;
}

describe('encodeFrame', () => {
  it('prefixes a 2-byte big-endian length', () => {
    const f = encodeFrame(new Uint8Array([7, 8, 9]));
    expect([...f]).toEqual([0, 3, 7, 8, 9]);
    const big = encodeFrame(new Uint8Array(MAX_FRAME_PAYLOAD));
    expect(big.length).toBe(MAX_FRAME_BYTES);
    expect(big.readUInt16BE(0)).toBe(65535);
  });

  it('refuses an empty payload with bad_frame and an oversized one with too_large', () => {
    expect(() => encodeFrame(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'bad_frame' }));
    expect(() => encodeFrame(new Uint8Array(MAX_FRAME_PAYLOAD + 1))).toThrow(
      expect.objectContaining({ code: 'too_large' }),
    );
  });
});

describe('FrameDecoder', () => {
  it('decodes frames split one byte at a time', () => {
    const d = new FrameDecoder();
    const wire = Buffer.concat([encodeFrame(Buffer.from('hello')), encodeFrame(Buffer.from('x'))]);
    const got: Uint8Array[] = [];
    for (const b of wire) {
      got.push(...d.push(Uint8Array.of(b)));
      expect(d.buffered).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    }
    expect(got.map((g) => Buffer.from(g).toString())).toEqual(['hello', 'x']);
    expect(d.buffered).toBe(0);
    expect(d.pendingFrame).toBe(false);
  });

  it('reports a partial frame as pending, including a lone length prefix', () => {
    const d = new FrameDecoder();
    expect(d.push(Uint8Array.of(0))).toEqual([]);
    expect(d.pendingFrame).toBe(true);
    expect(d.buffered).toBe(1);
    expect(d.push(Uint8Array.of(4, 1, 2))).toEqual([]);
    expect(d.pendingFrame).toBe(true);
    expect(d.buffered).toBe(4);
    expect(d.push(Uint8Array.of(3, 4))).toEqual([Uint8Array.of(1, 2, 3, 4)]);
    expect(d.pendingFrame).toBe(false);
  });

  it('returns copies, not views of the caller chunk', () => {
    const d = new FrameDecoder();
    const chunk = new Uint8Array(encodeFrame(Uint8Array.of(1, 2, 3)));
    const [frame] = d.push(chunk);
    chunk.fill(0xee);
    expect([...frame]).toEqual([1, 2, 3]);
  });

  it('holds only the unfinished frame of a large coalesced chunk', () => {
    const d = new FrameDecoder();
    const wire = Buffer.concat([encodeFrame(new Uint8Array(60000)), encodeFrame(new Uint8Array(500))]);
    const frames = d.push(wire.subarray(0, wire.length - 100));
    expect(frames.map((f) => f.length)).toEqual([60000]);
    expect(d.buffered).toBe(2 + 400);
  });

  it('throws bad_frame on a zero length and stays failed', () => {
    const d = new FrameDecoder();
    expect(() => d.push(Uint8Array.of(0, 1, 9, 0, 0))).toThrow(
      expect.objectContaining({ code: 'bad_frame' }),
    );
    expect(() => d.push(Uint8Array.of(0, 1, 9))).toThrow(expect.objectContaining({ code: 'bad_frame' }));
    expect(d.buffered).toBe(0);
  });

  it('decodes random frames, concatenated and split at random points (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (payloads, cuts) => {
          const wire = Buffer.concat(payloads.map((p) => encodeFrame(p)));
          const d = new FrameDecoder();
          const got: Uint8Array[] = [];
          for (const piece of splitAt(wire, cuts)) {
            got.push(...d.push(piece));
            expect(d.buffered).toBeLessThanOrEqual(MAX_FRAME_BYTES);
          }
          expect(got.map((g) => Buffer.from(g).toString('hex'))).toEqual(
            payloads.map((p) => Buffer.from(p).toString('hex')),
          );
          expect(d.pendingFrame).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('decodes a maximum-size frame split at random points (property)', () => {
    const payload = new Uint8Array(MAX_FRAME_PAYLOAD).map((_, i) => i & 0xff);
    const wire = encodeFrame(payload);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 10 }), (cuts) => {
        const d = new FrameDecoder();
        const got: Uint8Array[] = [];
        for (const piece of splitAt(wire, cuts)) {
          got.push(...d.push(piece));
          expect(d.buffered).toBeLessThanOrEqual(MAX_FRAME_BYTES);
        }
        expect(got).toHaveLength(1);
        expect(Buffer.compare(got[0], payload)).toBe(0);
      }),
      { numRuns: 50 },
    );
  });

  it('never crashes on random bytes: only ChatError bad_frame, and bounded buffering (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 20 }), (chunks) => {
        const d = new FrameDecoder();
        for (const c of chunks) {
          try {
            for (const f of d.push(c)) expect(f.length).toBeGreaterThan(0);
          } catch (err) {
            expect(isChatError(err, 'bad_frame')).toBe(true);
            return;
          }
          expect(d.buffered).toBeLessThanOrEqual(MAX_FRAME_BYTES);
        }
      }),
      { numRuns: 500 },
    );
  });
});
