/**
 * What the screen draws, in memory, fed by the client's events (issue 11, "Structure"): the
 * contacts in a stable order, the open conversation's messages and trust state. The store is
 * read when an event says something changed, never on a keystroke, so drawing reads memory only.
 */
import { canonName } from '../../names';
import type { ChatMessage, ContactInfo, ContactState } from '../../client/types';
import type { ChatCore, GroupInfo } from '../core';
import { isGroupKey } from '../groups';

/** A group in the sidebar (issue 16): keyed like a conversation, by '#' + id. */
export interface GroupEntry {
  readonly kind: 'group';
  /** The group's key, '#' + id. */
  readonly canon: string;
  readonly name: string;
  readonly unread: number;
  readonly group: GroupInfo;
}

/** A sidebar row: a contact or a group. */
export type SidebarEntry = ContactInfo | GroupEntry;

export function isGroupEntry(e: SidebarEntry): e is GroupEntry {
  return 'kind' in e && e.kind === 'group';
}

export function groupEntry(g: GroupInfo): GroupEntry {
  return { kind: 'group', canon: g.key, name: g.name, unread: g.unread, group: g };
}

/** Messages loaded for the open conversation: more than any screen shows, bounded for speed. */
export const HISTORY_SHOWN = 500;

export class ViewModel {
  /**
   * The sidebar: contacts and groups in the order of first appearance, so Alt+N numbers never
   * move (issue 11, defect 8), a new group taking the next number like a new contact.
   */
  entries: SidebarEntry[] = [];
  /** The contacts among them, in the same order. */
  contacts: ContactInfo[] = [];
  /** The open conversation's group, when it is one. */
  activeGroup: GroupInfo | undefined;
  /** Canonical name of the open conversation. */
  active: string | undefined;
  /** The open conversation's messages, oldest first. */
  history: ChatMessage[] = [];
  /** The open conversation's trust state; undefined: no keys yet, so no session. */
  activeState: ContactState | undefined;
  /** Id of the first message that was unread when the conversation was opened. */
  markerId: string | undefined;
  /** Display name of a conversation opened before the core lists it as a contact. */
  private pendingName: string | undefined;
  private readonly order = new Map<string, number>();
  /** Closed by the user with /close; back with the next message. */
  private readonly closed = new Set<string>();

  constructor(private readonly core: ChatCore) {}

  refreshContacts(): void {
    const all: SidebarEntry[] = [...this.core.contacts(), ...this.core.groups().map(groupEntry)];
    for (const c of all) if (!this.order.has(c.canon)) this.order.set(c.canon, this.order.size);
    if (this.active && !this.order.has(this.active)) this.order.set(this.active, this.order.size);
    this.entries = all
      .filter((c) => !this.closed.has(c.canon) || c.canon === this.active)
      .sort((a, b) => (this.order.get(a.canon) as number) - (this.order.get(b.canon) as number));
    this.contacts = this.entries.filter((e): e is ContactInfo => !isGroupEntry(e));
    if (this.active && isGroupKey(this.active)) {
      const g = this.entries.find((e) => e.canon === this.active);
      this.activeGroup = g && isGroupEntry(g) ? g.group : this.core.group(this.active);
    } else this.activeGroup = undefined;
  }

  refreshConversation(): void {
    if (!this.active) {
      this.history = [];
      this.activeState = undefined;
      this.activeGroup = undefined;
      return;
    }
    this.history = this.core.history(this.active, HISTORY_SHOWN);
    if (isGroupKey(this.active)) {
      this.activeState = undefined;
      this.activeGroup = this.core.group(this.active);
    } else this.activeState = this.core.contactState(this.active);
  }

  open(canon: string, displayName?: string): void {
    if (this.active !== canon) {
      const unread = this.entries.find((c) => c.canon === canon)?.unread ?? 0;
      this.active = canon;
      this.closed.delete(canon);
      this.refreshConversation();
      const incoming = this.history.filter((m) => m.direction === 'in');
      this.markerId = unread > 0 ? incoming[Math.max(0, incoming.length - unread)]?.id : undefined;
    }
    this.pendingName = displayName;
    this.refreshContacts();
  }

  /** A message to or from `peer` brings a closed conversation back. */
  touched(peer: string): void {
    this.closed.delete(canonName(peer));
  }

  close(canon: string): void {
    this.closed.add(canon);
    if (this.active === canon) {
      this.active = undefined;
      this.markerId = undefined;
      this.refreshConversation();
    }
    this.refreshContacts();
  }

  /** A contact (keys pinned) or someone with a conversation: not a new name. */
  isKnown(canon: string): boolean {
    return this.core.contactState(canon) !== undefined || this.core.history(canon, 1).length > 0;
  }

  /** A contact's name, or '#' and a group's name (both raw: the screen makes them drawable). */
  nameOf(canon: string): string {
    const e = this.entries.find((c) => c.canon === canon);
    if (e && isGroupEntry(e)) return '#' + e.name;
    if (isGroupKey(canon)) {
      const g = this.core.group(canon);
      return g ? '#' + g.name : canon;
    }
    return e?.name ?? this.pendingName ?? canon;
  }
}
