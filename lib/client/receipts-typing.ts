/**
 * Receipts and typing notices, the bookkeeping around them (the envelopes themselves are sealed
 * by the Client, like texts): delivered receipts batched per turn and retried, never dropped;
 * outgoing typing notices rate-limited; incoming ones ending by themselves. The clock is injected.
 */

/** Typing notices are refreshed at most this often, and end by themselves after this long. */
export const TYPING_TIMEOUT_MS = 6_000;
/** A delivered receipt that could not be stored is tried again after this long. */
export const RECEIPT_RETRY_MS = 2_000;

/**
 * Delivered receipts for one turn's messages from a contact go as one receipt envelope (`of`
 * lists them all): a burst of queued messages costs one send, not one each. One that cannot be
 * stored stays in memory and is tried again.
 */
export class DeliveredReceipts {
  private readonly waiting = new Map<string, string[]>();
  private readonly retry: [string, string[]][] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** `send` seals and stores one receipt envelope; it throws when that fails. */
  constructor(
    private readonly send: (peer: string, ids: string[]) => void,
    private readonly failed: (peer: string, err: unknown) => void,
  ) {}

  add(peer: string, id: string): void {
    const ids = this.waiting.get(peer);
    if (ids) {
      ids.push(id);
      return;
    }
    this.waiting.set(peer, [id]);
    if (this.waiting.size > 1) return;
    setImmediate(() => {
      const all = [...this.waiting];
      this.waiting.clear();
      this.sendAll(all);
    });
  }

  private sendAll(all: [string, string[]][]): void {
    const failed: [string, string[]][] = [];
    for (const [peer, ids] of all) {
      try {
        this.send(peer, ids);
      } catch (err) {
        this.failed(peer, err);
        failed.push([peer, ids]);
      }
    }
    if (!failed.length || this.closed) return;
    this.retry.push(...failed);
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.sendAll(this.retry.splice(0));
    }, RECEIPT_RETRY_MS);
    this.retryTimer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}

/** Typing notices both ways. */
export class Typing {
  private readonly sentAt = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  /** `changed` tells the view that a contact started or stopped typing. */
  constructor(
    private readonly now: () => number,
    private readonly changed: (peer: string, peerName: string, on: boolean) => void,
  ) {}

  /** Whether to send this notice: an `on` at most every few seconds, an `off` once after an `on`. */
  shouldSend(peer: string, on: boolean): boolean {
    const last = this.sentAt.get(peer);
    const now = this.now();
    if (on && last !== undefined && now - last < TYPING_TIMEOUT_MS / 2) return false;
    if (!on && last === undefined) return false;
    if (on) this.sentAt.set(peer, now);
    else this.sentAt.delete(peer);
    return true;
  }

  /** A notice from the contact; an `on` ends by itself after TYPING_TIMEOUT_MS. */
  received(peer: string, from: string, on: boolean): void {
    this.clear(peer, false);
    if (on) {
      const t = setTimeout(() => this.clear(peer), TYPING_TIMEOUT_MS);
      t.unref();
      this.timers.set(peer, t);
    }
    this.changed(peer, from, on);
  }

  /** The contact stopped typing (a message from them arrived, or the notice ran out). */
  clear(peer: string, tell = true): void {
    const t = this.timers.get(peer);
    if (!t) return;
    clearTimeout(t);
    this.timers.delete(peer);
    if (tell) this.changed(peer, peer, false);
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
  }
}
