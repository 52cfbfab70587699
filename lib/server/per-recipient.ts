/**
 * Maps per recipient (canonical name) that stay when emptied, up to EMPTY_KEPT empty ones, then
 * are pruned together. Issue 12: a Map made for a recipient's first waiting envelope and dropped
 * at its ack was, at low rates, a Map per message, held from the outer map's old-generation
 * tables; the scavenges copied it and it was promoted (the store's senders and per-sender counts,
 * and AddressShare's: ~2 MB promoted per 10,000 messages at 1,000 msgs/s, and 19-37 KB when kept).
 */

/** Emptied per-recipient maps kept before they are pruned together (a few hundred bytes each). */
export const EMPTY_KEPT = 1024;

export class PerRecipient<K, V> {
  private readonly of = new Map<string, Map<K, V>>();
  private empty = 0;

  get(to: string): Map<K, V> | undefined {
    return this.of.get(to);
  }

  set(to: string, k: K, v: V): void {
    let m = this.of.get(to);
    if (!m) {
      if (this.empty >= EMPTY_KEPT) this.prune();
      this.of.set(to, (m = new Map()));
    } else if (m.size === 0) this.empty--;
    m.set(k, v);
  }

  delete(to: string, k: K): void {
    const m = this.of.get(to);
    if (m?.delete(k) && m.size === 0) this.empty++;
  }

  /** Forgets the recipient, empty or not. */
  drop(to: string): void {
    if (this.of.get(to)?.size === 0) this.empty--;
    this.of.delete(to);
  }

  /** Recipients with a map, empty or not. */
  get size(): number {
    return this.of.size;
  }

  clear(): void {
    this.of.clear();
    this.empty = 0;
  }

  private prune(): void {
    for (const [to, m] of this.of) if (m.size === 0) this.of.delete(to);
    this.empty = 0;
  }
}
