/**
 * What waits to be sent (DESIGN.md: the outbox owns it): texts not sealed yet (no session yet, or
 * the contact's new identity waits for `/accept`), then sealed envelopes. The store holds both
 * (typed tables, store.ts `OutboxStore`); for the envelopes this
 * keeps their order and recipients in memory, so choosing what to transmit next costs O(window),
 * not a read of the outbox, on every `send` and every `sent` (issue 9, Cost).
 *
 * The store stays the truth: an entry is transmitted only after its bytes are read back from the
 * store, so an envelope whose transaction rolled back (and whose ratchet step was therefore not
 * saved) can never leave.
 */
import type { OutboxStore, OutgoingRecord, SentStatus, UnsentText } from './store';

export class Outbox {
  /** Outbox ids, oldest first, with the recipient; loaded from the store on first use. */
  private order: Map<string, string> | undefined;
  /** Ids sent on this connection and not yet answered (`sent` or an error). */
  readonly inFlight = new Set<string>();

  constructor(private readonly store: OutboxStore) {}

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

  /** Texts and envelopes waiting, those in flight included. */
  get size(): number {
    return this.store.countUnsent() + this.index().size;
  }

  // -- texts not sealed yet ----------------------------------------------------------------------

  /** Kept to be sealed later, after what already waits for the same contact. */
  keepText(text: UnsentText): void {
    this.store.queueUnsent(text);
  }

  textsFor(peer: string): UnsentText[] {
    return this.store.unsentFor(peer);
  }

  /** Contacts with texts waiting, the longest waiting first. */
  waitingPeers(): string[] {
    return this.store.unsentPeers();
  }

  hasTexts(peer: string): boolean {
    return this.store.hasUnsent(peer);
  }

  /** Sealed (call it in the sealing transaction), failed or deleted. */
  dropText(peer: string, id: string): boolean {
    return this.store.removeUnsent(peer, id);
  }

  // -- sealed envelopes --------------------------------------------------------------------------

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
