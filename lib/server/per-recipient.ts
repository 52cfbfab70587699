/**
 * Maps per recipient (canonical name) that stay when emptied, up to EMPTY_KEPT empty ones, then
 * are pruned together. Issue 12: a Map made for a recipient's first waiting envelope and dropped
 * at its ack was, at low rates, a Map per message, held from the outer map's old-generation
 * tables; the scavenges copied it and it was promoted (the store's senders and per-sender counts,
 * and AddressShare's: ~2 MB promoted per 10,000 messages at 1,000 msgs/s, and 19-37 KB when kept).
 */

/** Emptied per-recipient maps kept before they are pruned together (a few hundred bytes each). */
export const EMPTY_KEPT = 1024;

/**
 * A record per recipient that stays when emptied (`isEmpty`), up to EMPTY_KEPT empty ones, then
 * those are pruned together. The holder says when a record may have emptied (`removed`); `take`
 * makes or refills one.
 */
export class KeptRecords<R> {
  private readonly of = new Map<string, R>();
  private empty = 0;

  constructor(
    private readonly make: () => R,
    private readonly isEmpty: (r: R) => boolean,
  ) {}

  get(to: string): R | undefined {
    return this.of.get(to);
  }

  /** The recipient's record, made if it has none, for something to be added to it now. */
  take(to: string): R {
    let r = this.of.get(to);
    if (!r) {
      if (this.empty >= EMPTY_KEPT) this.prune();
      this.of.set(to, (r = this.make()));
    } else if (this.isEmpty(r)) this.empty--;
    return r;
  }

  /** Something was removed from `r`, the recipient's record: it may be empty now. */
  removed(r: R): void {
    if (this.isEmpty(r)) this.empty++;
  }

  /** Forgets the recipient, empty or not. */
  drop(to: string): void {
    const r = this.of.get(to);
    if (r !== undefined && this.isEmpty(r)) this.empty--;
    this.of.delete(to);
  }

  /** Recipients with a record, empty or not. */
  get size(): number {
    return this.of.size;
  }

  clear(): void {
    this.of.clear();
    this.empty = 0;
  }

  private prune(): void {
    for (const [to, r] of this.of) if (this.isEmpty(r)) this.of.delete(to);
    this.empty = 0;
  }
}

/** Maps per recipient (canonical name) kept when emptied (KeptRecords). */
export class PerRecipient<K, V> {
  private readonly records = new KeptRecords<Map<K, V>>(
    () => new Map(),
    (m) => m.size === 0,
  );

  get(to: string): Map<K, V> | undefined {
    return this.records.get(to);
  }

  set(to: string, k: K, v: V): void {
    this.records.take(to).set(k, v);
  }

  delete(to: string, k: K): void {
    const m = this.records.get(to);
    if (m?.delete(k)) this.records.removed(m);
  }

  /** Forgets the recipient, empty or not. */
  drop(to: string): void {
    this.records.drop(to);
  }

  /** Recipients with a map, empty or not. */
  get size(): number {
    return this.records.size;
  }

  clear(): void {
    this.records.clear();
  }
}
