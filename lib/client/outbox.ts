/**
 * What waits to be sent (DESIGN.md: the outbox owns it). The store holds the envelopes; this
 * keeps their order and recipients in memory, so choosing what to transmit next costs O(window),
 * not a read of the outbox, on every `send` and every `sent` (issue 9, Cost).
 *
 * The store stays the truth: an entry is transmitted only after its bytes are read back from the
 * store, so an envelope whose transaction rolled back (and whose ratchet step was therefore not
 * saved) can never leave.
 */
import type { ClientStore, OutgoingRecord, SentStatus } from './store';

export class Outbox {
  /** Outbox ids, oldest first, with the recipient; loaded from the store on first use. */
  private order: Map<string, string> | undefined;
  /** Ids sent on this connection and not yet answered (`sent` or an error). */
  readonly inFlight = new Set<string>();

  constructor(private readonly store: ClientStore) {}

  private index(): Map<string, string> {
    this.order ??= new Map(this.store.pendingOutgoing().map((r) => [r.id, r.to]));
    return this.order;
  }

  /** After a rolled-back transaction: the order is read from the store again on next use. */
  reset(): void {
    this.order = undefined;
  }

  /** Stores the envelope (call it in the transaction that saves the ratchet step). */
  queue(rec: OutgoingRecord): void {
    this.store.queueOutgoing(rec);
    this.index().set(rec.id, rec.to);
  }

  /** Envelopes waiting, those in flight included. */
  get size(): number {
    return this.index().size;
  }

  /** The recipient of a waiting envelope. */
  recipient(id: string): string | undefined {
    return this.index().get(id);
  }

  /**
   * The oldest envelopes not in flight, while fewer than `window` are: the in-flight ones are the
   * head of the queue, so this reads O(window) entries.
   */
  *due(window: number): Generator<OutgoingRecord> {
    const index = this.index();
    for (const id of index.keys()) {
      if (this.inFlight.size >= window) return;
      if (this.inFlight.has(id)) continue;
      const rec = this.store.outgoing(id);
      if (rec === undefined) {
        index.delete(id);
        continue;
      }
      yield rec;
    }
  }

  /** The relay took it (or it can never be delivered): it leaves the outbox. */
  remove(id: string, status: SentStatus = 'queued'): boolean {
    const removed = this.store.markSent(id, status);
    this.index().delete(id);
    this.inFlight.delete(id);
    return removed;
  }
}
