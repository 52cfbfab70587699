/**
 * Status line: relay address, connection state (with the reconnect countdown), the relay key
 * fingerprint's short form, and the encryption state of the open conversation.
 */
import type { ConnectionState, ContactState } from '../../client/types';
import { fitToWidth, toDrawable } from '../width';

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
      return `closed: ${c.reason}`;
  }
}

export function encryptionText(peer: string | undefined, state: ContactState | undefined): string {
  if (!peer) return 'no conversation open';
  switch (state) {
    case 'verified':
      return `${peer}: encrypted, verified`;
    case 'changed':
      return `${peer}: SAFETY NUMBER CHANGED, sending blocked`;
    case 'unverified':
    case undefined:
      return `${peer}: encrypted, not verified`;
  }
}

export interface StatusInput {
  readonly hostPort: string;
  readonly connection: ConnectionState;
  readonly fingerprint: string | undefined;
  readonly peer: string | undefined;
  readonly contactState: ContactState | undefined;
  readonly now: number;
}

export function statusText(s: StatusInput, width: number): string {
  const parts = [
    s.hostPort,
    connectionText(s.connection, s.now),
    shortFingerprint(s.fingerprint),
    encryptionText(s.peer, s.contactState),
    'F1 help',
  ];
  return fitToWidth(' ' + toDrawable(parts.join(' │ ')), width);
}
