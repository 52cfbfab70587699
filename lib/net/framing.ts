/**
 * Frames on the TCP stream (PROTOCOL.md section 4): a 2-byte big-endian length, then that many
 * bytes. A length of 0 is invalid; 65535 is the Noise message limit.
 */
import { ChatError } from '../errors';

/** The largest frame payload: the Noise message limit (PROTOCOL.md section 4). */
export const MAX_FRAME_PAYLOAD = 65535;
/** The length prefix: u16 big-endian. */
export const FRAME_HEADER_LEN = 2;
/** The most one frame occupies on the wire, so the most a decoder ever holds. */
export const MAX_FRAME_BYTES = FRAME_HEADER_LEN + MAX_FRAME_PAYLOAD;

export function encodeFrame(payload: Uint8Array): Buffer {
  if (payload.length === 0) throw new ChatError('bad_frame', 'a frame cannot be empty', 'framing.encode');
  if (payload.length > MAX_FRAME_PAYLOAD) {
    throw new ChatError('too_large', `a frame holds at most ${MAX_FRAME_PAYLOAD} bytes`, 'framing.encode');
  }
  const out = Buffer.allocUnsafe(FRAME_HEADER_LEN + payload.length);
  out.writeUInt16BE(payload.length, 0);
  out.set(payload, FRAME_HEADER_LEN);
  return out;
}

/**
 * A streaming decoder for any split or coalescing of TCP chunks. It holds only the bytes of the
 * unfinished frame received so far (never more than MAX_FRAME_BYTES), copied out of their chunk so
 * a large chunk is never retained, and allocates nothing ahead for a length it has not received.
 * After a bad length it stays failed: the connection is to be closed (PROTOCOL.md section 4).
 */
export class FrameDecoder {
  /** The length prefix read so far: `headerLen` is 0, 1 or 2 bytes. */
  private header = 0;
  private headerLen = 0;
  /** Length of the frame being read once its prefix is complete; 0 while reading the prefix. */
  private expected = 0;
  /** Copies of the body bytes received so far for that frame. */
  private parts: Uint8Array[] = [];
  private partsLen = 0;
  private failed = false;

  /** Bytes of the unfinished frame received so far, prefix included. Never above MAX_FRAME_BYTES. */
  get buffered(): number {
    return this.headerLen + this.partsLen;
  }

  /** True while a partial frame is held (even just its prefix): a peer that stops here is stalling. */
  get pendingFrame(): boolean {
    return this.headerLen > 0;
  }

  /**
   * Feeds one chunk; returns the frames it completes, in order. Each returned frame is a fresh
   * copy, never a view of the chunk. Throws ChatError('bad_frame') on a zero length (and on every
   * push after that); frames completed earlier in the same chunk are then dropped with it.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed) throw new ChatError('bad_frame', 'the frame stream already failed', 'framing.decode');
    const frames: Uint8Array[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.expected === 0) {
        // The 2-byte length, possibly split across chunks.
        this.header = (this.header << 8) | chunk[off++];
        this.headerLen++;
        if (this.headerLen < FRAME_HEADER_LEN) continue;
        if (this.header === 0) {
          this.failed = true;
          this.reset();
          throw new ChatError('bad_frame', 'a frame of length 0 is invalid', 'framing.decode');
        }
        this.expected = this.header;
      }
      if (off === chunk.length) break;
      const take = Math.min(this.expected - this.partsLen, chunk.length - off);
      if (this.partsLen === 0 && take === this.expected) {
        // The whole body is in this chunk: nothing to hold.
        frames.push(chunk.slice(off, off + take));
        this.reset();
      } else {
        this.parts.push(chunk.slice(off, off + take));
        this.partsLen += take;
        if (this.partsLen === this.expected) {
          frames.push(this.joinParts());
          this.reset();
        }
      }
      off += take;
    }
    return frames;
  }

  private joinParts(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0];
    const out = new Uint8Array(this.partsLen);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  private reset(): void {
    this.header = 0;
    this.headerLen = 0;
    this.expected = 0;
    this.parts = [];
    this.partsLen = 0;
  }
}
