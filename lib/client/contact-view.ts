/**
 * What the views list (`Client.contacts()`): contacts, then conversations with others, then
 * whoever else is online; each with presence and unread count; conversations the user closed
 * left out; sorted by canonical name.
 */
import type { Contacts } from './contacts';
import type { Presence } from './presence';
import type { ClientStore } from './store';
import type { ContactInfo } from './types';

export function contactView(
  contacts: Contacts,
  store: ClientStore,
  presence: Presence,
  closed: ReadonlySet<string>,
): ContactInfo[] {
  const out = new Map<string, ContactInfo>();
  for (const c of contacts.all()) {
    out.set(c.canon, {
      name: c.name,
      canon: c.canon,
      state: c.state,
      online: presence.isOnline(c.canon),
      unread: store.unreadCount(c.canon),
      lastSeen: presence.lastSeen(c.canon),
    });
  }
  for (const conv of store.conversations()) {
    // Group conversations ('#'+id) are listed by `Client.groups()`, not as contacts.
    if (out.has(conv.peer) || conv.peer.startsWith('#')) continue;
    out.set(conv.peer, {
      name: conv.peerName,
      canon: conv.peer,
      state: 'unverified',
      online: presence.isOnline(conv.peer),
      unread: conv.unread,
      lastSeen: presence.lastSeen(conv.peer),
    });
  }
  for (const [canon, name] of presence.online()) {
    if (!out.has(canon)) {
      out.set(canon, { name, canon, state: 'unverified', online: true, unread: 0, lastSeen: null });
    }
  }
  return [...out.values()].filter((c) => !closed.has(c.canon)).sort((a, b) => a.canon.localeCompare(b.canon));
}
