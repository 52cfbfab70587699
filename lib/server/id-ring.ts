/**
 * Values by id, in the order added, for what the relay adds and drops once per message: the ids
 * delivered to a session and not yet acked, the early enqueues waiting for their acks, the
 * sending address of each envelope waiting for a recipient. Issue 12: Maps and Sets there re-made
 * their tables at almost every ack (V8 shrinks one on delete, and rehashes one full of deleted
 * entries on add), and an old table links to its successor, so each table made since the last
 * scavenge was kept alive by the promoted one before it: 200-550 KB copied by every scavenge at
 * any rate, against 10 KB in the reference relay, and the length of its pauses (the p99 at
 * 4,000-6,000 msgs/s). A ring instead: lookups scan it, which is short work because acks come in
 * the order of delivery (the id sought is at the head); it grows by doubling, and only a ring
 * that grew past SHRINK_ABOVE is made small again, once it is empty.
 */

/** An empty ring longer than this goes back to its first size (a queue of thousands drained). */
const SHRINK_ABOVE = 64;
const FIRST = 4;

export class IdRing<V> {
  /** Power-of-two long; the live entries are `count` slots from `head`, the rest undefined. */
  private ids: (string | undefined)[] = new Array<string | undefined>(FIRST).fill(undefined);
  private vals: (V | undefined)[] = new Array<V | undefined>(FIRST).fill(undefined);
  private head = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(id: string): boolean {
    return this.offsetOf(id) >= 0;
  }

  get(id: string): V | undefined {
    const at = this.offsetOf(id);
    return at < 0 ? undefined : this.vals[(this.head + at) & (this.ids.length - 1)];
  }

  /** Adds `id` last; the caller never adds an id the ring holds (`has` first). */
  add(id: string, v: V): void {
    if (this.count === this.ids.length) this.resize(this.ids.length * 2);
    const slot = (this.head + this.count) & (this.ids.length - 1);
    this.ids[slot] = id;
    this.vals[slot] = v;
    this.count++;
  }

  delete(id: string): boolean {
    const at = this.offsetOf(id);
    if (at < 0) return false;
    const mask = this.ids.length - 1;
    if (at === 0) {
      this.ids[this.head] = undefined;
      this.vals[this.head] = undefined;
      this.head = (this.head + 1) & mask;
    } else {
      // Out of order: the later entries move one slot towards the head.
      for (let k = at; k < this.count - 1; k++) {
        const to = (this.head + k) & mask;
        const from = (to + 1) & mask;
        this.ids[to] = this.ids[from];
        this.vals[to] = this.vals[from];
      }
      const last = (this.head + this.count - 1) & mask;
      this.ids[last] = undefined;
      this.vals[last] = undefined;
    }
    this.count--;
    if (this.count === 0 && this.ids.length > SHRINK_ABOVE) this.resize(FIRST);
    return true;
  }

  /** The ids, oldest first. */
  *keys(): IterableIterator<string> {
    const mask = this.ids.length - 1;
    for (let k = 0; k < this.count; k++) yield this.ids[(this.head + k) & mask] as string;
  }

  private offsetOf(id: string): number {
    const mask = this.ids.length - 1;
    for (let k = 0; k < this.count; k++) if (this.ids[(this.head + k) & mask] === id) return k;
    return -1;
  }

  private resize(length: number): void {
    const ids = new Array<string | undefined>(length).fill(undefined);
    const vals = new Array<V | undefined>(length).fill(undefined);
    const mask = this.ids.length - 1;
    for (let k = 0; k < this.count; k++) {
      ids[k] = this.ids[(this.head + k) & mask];
      vals[k] = this.vals[(this.head + k) & mask];
    }
    this.ids = ids;
    this.vals = vals;
    this.head = 0;
  }
}
