/**
 * Fuzzing the frame decoder (PROTOCOL.md section 4; issue 6, item 4): random chunks and mutated
 * valid frame streams, split at random points. The decoder never throws anything but
 * ChatError('bad_frame'), never holds more than one frame, and never returns an empty or
 * oversized frame; an unmutated stream comes back exactly.
 */
import fc from 'fast-check';
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES, MAX_FRAME_PAYLOAD } from '../../lib/net/framing';
import { expectOnlyChatError, FUZZ_TIMEOUT_MS, mutate, mutationArb, runFuzz } from './fuzz-config';

/** Feeds `stream` cut at `cuts`; returns the frames, or undefined once the decoder failed. */
function feed(stream: Uint8Array, cuts: readonly number[]): Uint8Array[] | undefined {
  const d = new FrameDecoder();
  const points = [...new Set(cuts.map((c) => (stream.length ? c % stream.length : 0)))].sort((a, b) => a - b);
  const frames: Uint8Array[] = [];
  let prev = 0;
  let failed = false;
  for (const at of [...points, stream.length]) {
    if (at < prev) continue;
    const out = expectOnlyChatError(() => d.push(stream.subarray(prev, at)), ['bad_frame']) as
      Uint8Array[] | undefined;
    prev = at;
    if (out === undefined) {
      failed = true;
      // Stays failed: every later push is bad_frame too.
      expectOnlyChatError(() => d.push(new Uint8Array([1])), ['bad_frame']);
      expect(() => d.push(new Uint8Array([1]))).toThrow();
      break;
    }
    for (const f of out) {
      expect(f.length).toBeGreaterThan(0);
      expect(f.length).toBeLessThanOrEqual(MAX_FRAME_PAYLOAD);
      frames.push(f);
    }
    expect(d.buffered).toBeLessThanOrEqual(MAX_FRAME_BYTES);
  }
  return failed ? undefined : frames;
}

const payloads = fc.array(
  fc.oneof(
    { weight: 8, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 60_000, max: MAX_FRAME_PAYLOAD }).map((n) => new Uint8Array(n).fill(7)),
    },
  ),
  { maxLength: 8 },
);
const cuts = fc.array(fc.nat(), { maxLength: 12 });

it(
  'random chunks: frames or bad_frame, bounded buffering',
  () => {
    runFuzz(
      'frame decoder: random chunks',
      fc.property(fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 10 }), (chunks) => {
        const d = new FrameDecoder();
        for (const c of chunks) {
          const out = expectOnlyChatError(() => d.push(c), ['bad_frame']);
          if (out === undefined) return;
          expect(d.buffered).toBeLessThanOrEqual(MAX_FRAME_BYTES);
        }
      }),
    );
  },
  FUZZ_TIMEOUT_MS,
);

it(
  'mutated valid streams split at random points: frames or bad_frame; unmutated ones come back exactly',
  () => {
    runFuzz(
      'frame decoder: mutated valid streams',
      fc.property(payloads, fc.array(mutationArb, { maxLength: 4 }), cuts, (frames, mutations, at) => {
        const stream = Uint8Array.from(Buffer.concat(frames.map((f) => encodeFrame(f))));
        const out = feed(mutate(stream, mutations), at);
        if (mutations.length === 0) {
          expect(out).toBeDefined();
          expect(out!.map((f) => Buffer.from(f).toString('hex'))).toEqual(
            frames.map((f) => Buffer.from(f).toString('hex')),
          );
        }
      }),
    );
  },
  FUZZ_TIMEOUT_MS,
);
