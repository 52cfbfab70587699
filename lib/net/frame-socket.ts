/**
 * Frames over any byte stream (a TCP socket, or a duplex pair in tests): the frame decoder, the
 * per-frame deadline, corked writes and the bound on what waits unread for the peer
 * (PROTOCOL.md sections 4 and 9). The handshake reads frames one at a time with `next()`; the
 * established channel switches to `deliverTo`.
 */
import type { Duplex } from 'node:stream';
import type { Bytes } from '../crypto/primitives';
import { ChatError, isChatError } from '../errors';
import { encodeFrame, FrameDecoder } from './framing';

/** A frame started but not finished within this time, from its first byte, is a stall. */
export const FRAME_DEADLINE_MS = 10_000;
/**
 * Bytes written to a peer and not yet taken by the network. Above the first, we stop reading
 * from the peer (its requests make our answers); above the second the connection is closed: a
 * peer that does not read must not grow our memory (issue 10, defect 2).
 */
export const OUT_PAUSE_BYTES = 256 * 1024;
export const OUT_MAX_BYTES = 4 * 1024 * 1024;

export interface FrameSocketOptions {
  readonly frameDeadlineMs?: number;
  readonly outPauseBytes?: number;
  readonly outMaxBytes?: number;
}

export class FrameSocket {
  private readonly decoder = new FrameDecoder();
  private readonly queue: Bytes[] = [];
  private waiter: { resolve: (b: Bytes) => void; reject: (e: Error) => void } | undefined;
  private failure: ChatError | undefined;
  private frameTimer: NodeJS.Timeout | undefined;
  private corked = false;
  private paused = false;
  private readonly frameDeadlineMs: number;
  private readonly outPauseBytes: number;
  private readonly outMaxBytes: number;
  onFrame: ((frame: Bytes) => void) | undefined;
  onFailure: ((err: ChatError) => void) | undefined;

  constructor(
    readonly socket: Duplex,
    opts: FrameSocketOptions = {},
  ) {
    this.frameDeadlineMs = opts.frameDeadlineMs ?? FRAME_DEADLINE_MS;
    this.outPauseBytes = opts.outPauseBytes ?? OUT_PAUSE_BYTES;
    this.outMaxBytes = opts.outMaxBytes ?? OUT_MAX_BYTES;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.resumeReading());
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.fail(new ChatError('connection_closed', `connection error (${err.code ?? 'unknown'})`)),
    );
    socket.on('close', () => this.fail(new ChatError('connection_closed', 'the connection closed')));
  }

  private onData(chunk: Buffer): void {
    if (this.failure) return;
    let frames: Bytes[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(isChatError(err) ? err : new ChatError('bad_frame', 'invalid frame'));
      return;
    }
    this.armFrameTimer(frames.length > 0);
    for (const f of frames) {
      if (this.failure) return;
      if (this.onFrame) this.onFrame(f);
      else if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(f);
      } else this.queue.push(f);
    }
  }

  /**
   * The deadline is for one frame, from that frame's first byte: a frame completed in this chunk
   * means the unfinished one (if any) started in this chunk, so its clock starts now.
   */
  private armFrameTimer(completed: boolean): void {
    if ((completed || !this.decoder.pendingFrame) && this.frameTimer) {
      clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    }
    if (this.decoder.pendingFrame && !this.frameTimer) {
      this.frameTimer = setTimeout(
        () => this.fail(new ChatError('bad_frame', 'a frame was left unfinished')),
        this.frameDeadlineMs,
      );
      this.frameTimer.unref();
    }
  }

  next(): Promise<Bytes> {
    if (this.failure) return Promise.reject(this.failure);
    const f = this.queue.shift();
    if (f) return Promise.resolve(f);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Switches from request/response reading to event delivery, draining what is queued. */
  deliverTo(onFrame: (frame: Bytes) => void): void {
    this.onFrame = onFrame;
    while (this.queue.length && !this.failure) onFrame(this.queue.shift() as Bytes);
  }

  /** Bytes written and not yet taken by the network. */
  get unsent(): number {
    return this.socket.writableLength;
  }

  /**
   * Writes one frame. Writes within one tick are corked together so a burst of messages costs
   * one system call. Past OUT_PAUSE_BYTES unsent, the peer is no longer read until they drain;
   * past OUT_MAX_BYTES, the connection fails with `rate_limited`.
   */
  write(payload: Bytes): void {
    if (this.failure || this.socket.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        if (!this.socket.destroyed) this.socket.uncork();
      });
    }
    this.socket.write(encodeFrame(payload));
    const unsent = this.socket.writableLength;
    if (unsent > this.outMaxBytes) {
      this.fail(new ChatError('rate_limited', 'the peer does not read what it is sent'));
      this.socket.destroy();
    } else if (unsent > this.outPauseBytes && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private resumeReading(): void {
    if (!this.paused || this.failure) return;
    this.paused = false;
    this.socket.resume();
  }

  fail(err: ChatError): void {
    if (this.failure) return;
    this.failure = err;
    if (this.frameTimer) clearTimeout(this.frameTimer);
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w.reject(err);
    if (this.onFailure) this.onFailure(err);
  }

  get failed(): ChatError | undefined {
    return this.failure;
  }
}
