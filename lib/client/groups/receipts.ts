/**
 * Receipts of one group message (issue 16 point 4), pure. A receiver sends its `receipt`
 * (section 8.5) pairwise to the message's sender only: the message id is unique, so the sender
 * maps it back to the group message, and no other member learns who read what. The sender shows
 * "delivered to 3 of 5, read by 2".
 */
import { canonName } from '../../names';
import type { ReceiptState } from '../../crypto/inner-message';

export interface GroupReceipts {
  /** The canonical names the message was sent to. */
  readonly to: readonly string[];
  readonly delivered: readonly string[];
  readonly read: readonly string[];
}

export function trackGroupMessage(to: readonly string[]): GroupReceipts {
  return { to: [...new Set(to.map(canonName))], delivered: [], read: [] };
}

/** A receipt from `from` (the authenticated pairwise sender); ignored unless it was a recipient. */
export function recordReceipt(r: GroupReceipts, from: string, state: ReceiptState): GroupReceipts {
  const who = canonName(from);
  if (!r.to.includes(who)) return r;
  // Read implies delivered: a read receipt may overtake the delivery receipt.
  const delivered = r.delivered.includes(who) ? r.delivered : [...r.delivered, who];
  const read = state === 'read' && !r.read.includes(who) ? [...r.read, who] : r.read;
  return delivered === r.delivered && read === r.read ? r : { ...r, delivered, read };
}

export function describeReceipts(r: GroupReceipts): string {
  const parts = [`delivered to ${r.delivered.length} of ${r.to.length}`];
  if (r.read.length > 0) parts.push(`read by ${r.read.length}`);
  return parts.join(', ');
}
