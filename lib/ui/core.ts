/**
 * What the views (full screen and line mode) need of the client core: exactly the members of
 * `Client` (lib/client/client.ts) that they use, so the real Client satisfies this structurally
 * and the views never touch a socket or a key (DESIGN.md, "Layers").
 *
 * The members marked "optional" are being added to Client in parallel (CLIENT-API.md); until
 * they exist the views say that the action is not available rather than fail.
 */
import type { EventEmitter } from 'node:events';
import type {
  ChatMessage,
  ClientEvents,
  ConnectionState,
  ContactInfo,
  ContactState,
  GroupInfo,
} from '../client/types';

export type { GroupEvent, GroupEventKind, GroupInfo } from '../client/types';

/** Who a group message of ours went to, who has it and who read it (`Client.groupReceipts`). */
export interface GroupReceipts {
  readonly to: readonly string[];
  readonly delivered: readonly string[];
  readonly read: readonly string[];
}

/** The group members of `Client` (GROUPS-API.md, issue 16). */
export interface GroupCore {
  createGroup(name: string, users: readonly string[]): GroupInfo;
  addToGroup(group: string, users: readonly string[]): GroupInfo;
  removeFromGroup(group: string, users: readonly string[]): GroupInfo;
  leaveGroup(group: string): GroupInfo;
  renameGroup(group: string, name: string): GroupInfo;
  setGroupAdmin(group: string, user: string, on: boolean): GroupInfo;
  /** Every group I am or was in, in creation/join order. */
  groups(): GroupInfo[];
  /** A group by id, '#'+id or name; undefined if none. */
  group(group: string): GroupInfo | undefined;
  /** Throws ChatError `identity_changed` while `blockedBy` is not empty. */
  sendGroup(group: string, body: string): ChatMessage;
  groupReceipts(group: string, id: string): GroupReceipts | undefined;
}

export interface OnlineEntry {
  readonly name: string;
  readonly online: boolean;
  readonly lastSeen: number | null;
}

export interface ChatCore extends EventEmitter<ClientEvents>, GroupCore {
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
