/**
 * Status line: relay address, connection state (with the reconnect countdown), the relay key
 * fingerprint's short form, and the encryption state of the open conversation.
 */
import type { ConnectionState, ContactState } from '../../client/types';
import { displayWidth, fitToWidth, sliceToWidth, toDrawable } from '../width';

/** Characters of the base64 fingerprint shown: enough to spot a change, short enough to fit. */
export const FINGERPRINT_SHORT_CHARS = 8;

export function shortFingerprint(fp: string | undefined): string {
  if (!fp) return 'relay key ?';
  const m = /^SHA256:(.+)$/.exec(fp);
  return `SHA256:${(m ? m[1] : fp).slice(0, FINGERPRINT_SHORT_CHARS)}…`;
}

export function connectionText(c: ConnectionState, now: number): string {
  switch (c.state) {
    case 'connecting':
      return c.attempt > 1 ? `connecting (attempt ${c.attempt})` : 'connecting';
    case 'online':
      return 'online';
    case 'offline': {
      const secs = Math.max(0, Math.ceil((c.retryAt - now) / 1000));
      return `offline, retry in ${secs}s`;
    }
    case 'closed':
      if (c.code === 'server_key_changed') return 'RELAY KEY CHANGED, not connected';
      return c.reason === 'closed' ? 'closed' : `closed: ${c.reason.split('\n')[0]}`;
  }
}

/** What the status line needs of an open group (issue 16). */
export interface GroupStatus {
  readonly members: readonly string[];
  readonly blockedBy: readonly string[];
  readonly member: boolean;
}

export function encryptionText(
  peer: string | undefined,
  state: ContactState | undefined,
  group?: GroupStatus,
): string {
  if (!peer) return 'no conversation open';
  if (group) {
    if (!group.member) return `${peer}: you are no longer a member`;
    if (group.blockedBy.length > 0)
      return `${peer}: SAFETY NUMBER CHANGED (${group.blockedBy.join(', ')}), sending blocked`;
    return `${peer}: group of ${group.members.length}, encrypted`;
  }
  switch (state) {
    case 'verified':
      return `${peer}: encrypted, verified`;
    case 'changed':
      return `${peer}: SAFETY NUMBER CHANGED, sending blocked`;
    case 'unverified':
      return `${peer}: encrypted, not verified`;
    case undefined:
      // No keys pinned: nothing has been encrypted with this contact yet (issue 11, defect 5).
      return `${peer}: no session yet`;
  }
}

export interface StatusInput {
  readonly hostPort: string;
  readonly connection: ConnectionState;
  readonly fingerprint: string | undefined;
  readonly peer: string | undefined;
  readonly contactState: ContactState | undefined;
  /** Set when the open conversation is a group's. */
  readonly group?: GroupStatus;
  readonly now: number;
}

const SEP = ' │ ';
export const HELP_HINT = 'F1 help';

/**
 * The status line for `width` cells. When it does not fit, the fingerprint goes first, then the
 * relay address; the rest is cut at the end of a word, and "F1 help" always shows (defect 10).
 */
export function statusText(s: StatusInput, width: number): string {
  const parts = [
    s.hostPort,
    connectionText(s.connection, s.now),
    shortFingerprint(s.fingerprint),
    encryptionText(s.peer, s.contactState, s.group),
  ].map((p) => toDrawable(p));
  const tail = SEP + HELP_HINT;
  const fits = (p: string[]) => displayWidth(' ' + p.join(SEP) + tail) <= width;
  for (const drop of [2, 0]) {
    if (fits(parts)) break;
    parts.splice(drop, 1);
  }
  let left = ' ' + parts.join(SEP);
  const room = width - displayWidth(tail);
  if (room < 4) return fitToWidth(' ' + HELP_HINT, width);
  if (displayWidth(left) > room) {
    const cut = sliceToWidth(left, room - 1);
    const atWord = cut.replace(/\s+\S*$/, '');
    left = (atWord.length > cut.length / 2 ? atWord : cut) + '…';
  }
  return fitToWidth(left + tail, width);
}
