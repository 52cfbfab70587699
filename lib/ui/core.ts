/**
 * What the views (full screen and line mode) need of the client core: exactly the members of
 * `Client` (lib/client/client.ts) that they use, so the real Client satisfies this structurally
 * and the views never touch a socket or a key (DESIGN.md, "Layers").
 *
 * The members marked "optional" are being added to Client in parallel (CLIENT-API.md); until
 * they exist the views say that the action is not available rather than fail.
 */
import type { EventEmitter } from 'node:events';
import type { ChatMessage, ClientEvents, ConnectionState, ContactInfo, ContactState } from '../client/types';

export interface OnlineEntry {
  readonly name: string;
  readonly online: boolean;
  readonly lastSeen: number | null;
}

export interface ChatCore extends EventEmitter<ClientEvents> {
  readonly name: string;
  readonly hostPort: string;
  readonly connection: ConnectionState;
  readonly serverFingerprint: string | undefined;
  readonly logFile: string;
  /** Connects, and reconnects by itself. */
  start(): void;
  /** The answer to 'server-unknown': accept once and remember, or refuse. */
  trustServer(accept: boolean): void;
  list(): Promise<OnlineEntry[]>;
  /** Throws ChatError `identity_changed`, `too_large` or `bad_name`. */
  send(to: string, body: string): ChatMessage;
  history(peer: string, limit?: number): ChatMessage[];
  contacts(): ContactInfo[];
  /** Undefined: no keys pinned for `peer`, so no session yet. */
  contactState(peer: string): ContactState | undefined;
  /** Messages and receipts not yet taken by the relay. */
  outboxSize(): number;
  /** The conversation is on screen: marks its messages shown (and sends read receipts). */
  markShown(peer: string): void;
  setTyping(peer: string, on: boolean): void;
  /** Twelve groups of five digits (of the pending identity while the contact is `changed`). */
  safetyNumber(peer: string): string;
  verify(peer: string): void;
  /** `shownNumber`: the safety number the user was shown (CLIENT-API.md 4). */
  acceptIdentity(peer: string, shownNumber: string): void;
  close(): Promise<void>;
  /** Optional until the client adds it (CLIENT-API.md 2): removes one message. */
  deleteMessage?(peer: string, id: string): boolean;
  /** Optional until the client adds it (CLIENT-API.md 3): hides a conversation. */
  closeConversation?(peer: string): void;
  /** Optional until the client adds it (CLIENT-API.md 5). */
  recoveryCode?(): string;
}
