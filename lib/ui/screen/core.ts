/**
 * What the full-screen UI needs of the client core: exactly the members of `Client`
 * (lib/client/client.ts) that it uses, so the real Client satisfies this structurally and the UI
 * never touches a socket or a key (DESIGN.md, "Layers").
 */
import type { EventEmitter } from 'node:events';
import type { ChatMessage, ClientEvents, ConnectionState, ContactInfo } from '../../client/types';

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
  /** The conversation is on screen: marks its messages shown (and sends read receipts). */
  markShown(peer: string): void;
  setTyping(peer: string, on: boolean): void;
  /** Twelve groups of five digits. */
  safetyNumber(peer: string): string;
  verify(peer: string): void;
  acceptIdentity(peer: string): void;
  close(): Promise<void>;
}
