/**
 * What the client core tells its views (line mode, full-screen UI) and what they can ask of
 * it. The views never touch a socket or a key: they call `Client` methods and render events.
 */
import type { ContactState, MessageState, NewMessage } from './store';

export type { ContactState, MessageState };

/** The connection to the relay, as a state machine the status line can show. */
export type ConnectionState =
  | { readonly state: 'connecting'; readonly attempt: number }
  | { readonly state: 'online' }
  /** Disconnected; a reconnect is due at `retryAt` (ms since the epoch, our clock). */
  | { readonly state: 'offline'; readonly retryAt: number; readonly reason: string }
  /** Stopped for good: closed by the user, or refused (changed relay key, name taken, ...). */
  | { readonly state: 'closed'; readonly reason: string; readonly code?: string };

/** A message as the views show it: what the store keeps (lib/client/store.ts `NewMessage`). */
export type ChatMessage = NewMessage;

export interface ContactInfo {
  readonly name: string;
  readonly canon: string;
  readonly state: ContactState;
  readonly online: boolean;
  readonly unread: number;
  readonly lastSeen: number | null;
}

/** A group as the views show it (GROUPS-API.md). */
export interface GroupInfo {
  /** 32 lowercase hex. */
  readonly id: string;
  /** '#' + id: the conversation key for history/markShown/setTyping/deleteMessage. */
  readonly key: string;
  /** Display name (peer-supplied when someone else made it: neutralise). */
  readonly name: string;
  /** Canonical names, sorted, including me while I am a member. */
  readonly members: readonly string[];
  readonly admins: readonly string[];
  readonly version: number;
  readonly unread: number;
  /** False once I left or was removed (history stays readable). */
  readonly member: boolean;
  /** Members whose safety number changed and is not accepted: sending to the group is blocked. */
  readonly blockedBy: readonly string[];
}

export type GroupEventKind =
  'created' | 'joined' | 'added' | 'removed' | 'left' | 'renamed' | 'admin' | 'removed-me';

export interface GroupEvent {
  readonly id: string;
  readonly key: string;
  readonly name: string;
  readonly what: GroupEventKind;
  /** Who made the change (display name). */
  readonly by: string;
  /** added/removed/admin subjects. */
  readonly users?: readonly string[];
}

export interface ClientEvents {
  /** A group change, after it is stored. */
  group: [GroupEvent];
  /** Connection state changed. */
  state: [ConnectionState];
  /** Someone came online or went offline. */
  presence: [{ readonly user: string; readonly online: boolean }];
  /** A new incoming text message, already stored. */
  message: [ChatMessage];
  /** One of our messages changed state: sent / queued / delivered / read. */
  receipt: [{ readonly peer: string; readonly ids: readonly string[]; readonly state: MessageState }];
  /** The contact is typing (on) or stopped (off). */
  typing: [{ readonly peer: string; readonly peerName: string; readonly on: boolean }];
  /** A contact's trust state changed (pinned, verified, safety number changed, accepted). */
  contact: [{ readonly name: string; readonly state: ContactState }];
  /** Something went wrong that the user should see; `code` is stable, `message` is a sentence. */
  error: [{ readonly code: string; readonly message: string; readonly peer?: string }];
  /** The relay's key is unknown; the view must ask (the answer goes to `trustServer`). */
  'server-unknown': [{ readonly hostPort: string; readonly fingerprint: string }];
  /** Once, after the first registration of a new identity: the recovery code to write down. */
  'recovery-code': [{ readonly code: string }];
}
