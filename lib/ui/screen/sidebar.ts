/**
 * Sidebar: the contact list. Each row: the Alt+N number, a presence dot (● online, ○ offline),
 * the name, a trust mark (✓ verified, ! safety number changed, nothing when unverified) and the
 * unread count. A group's row has `#` where a contact has the dot, and as its mark `!` while a
 * member's changed safety number blocks sending, `-` once I am no longer a member (issue 16).
 * The open conversation is shown in inverse.
 */
import blessed from 'neo-blessed';
import type { ContactInfo } from '../../client/types';
import { displayWidth, fitToWidth, toDrawable } from '../width';
import { isGroupEntry, type GroupEntry, type SidebarEntry } from './view-model';

export const TRUST_MARK: Record<ContactInfo['state'], string> = {
  verified: '✓',
  unverified: ' ',
  changed: '!',
};

/** A group's mark: sending blocked, no longer a member, or nothing. */
export function groupMark(g: GroupEntry): '!' | '-' | ' ' {
  return !g.group.member ? '-' : g.group.blockedBy.length > 0 ? '!' : ' ';
}

export function sidebarLines(
  contacts: readonly SidebarEntry[],
  active: string | undefined,
  width: number,
  color = true,
): string[] {
  return contacts.map((c, i) => {
    const num = i < 9 ? String(i + 1) : ' ';
    if (isGroupEntry(c)) return groupLine(c, num, active, width, color);
    const dot = c.online ? (color ? '{green-fg}●{/green-fg}' : '●') : '○';
    const unread = c.unread > 0 ? String(Math.min(c.unread, 999)) : '';
    const tail = ` ${TRUST_MARK[c.state]}${unread ? ' ' + unread : ''}`;
    const nameWidth = Math.max(1, width - 4 - displayWidth(tail));
    const name = blessed.escape(fitToWidth(toDrawable(c.name), nameWidth));
    const mark =
      c.state === 'changed' && color ? `{red-fg}${TRUST_MARK.changed}{/red-fg}` : TRUST_MARK[c.state];
    const count = unread ? ` {bold}${unread}{/bold}` : '';
    const row = `${num} ${dot} ${c.unread > 0 ? `{bold}${name}{/bold}` : name} ${mark}${count}`;
    return c.canon === active ? `{inverse}${row}{/inverse}` : row;
  });
}

function groupLine(g: GroupEntry, num: string, active: string | undefined, width: number, color: boolean) {
  const unread = g.unread > 0 ? String(Math.min(g.unread, 999)) : '';
  const mark = groupMark(g);
  const tail = ` ${mark}${unread ? ' ' + unread : ''}`;
  const nameWidth = Math.max(1, width - 4 - displayWidth(tail));
  const name = blessed.escape(fitToWidth(toDrawable(g.name), nameWidth));
  const shownMark = mark === '!' && color ? `{red-fg}!{/red-fg}` : mark;
  const count = unread ? ` {bold}${unread}{/bold}` : '';
  const row = `${num} {bold}#{/bold} ${g.unread > 0 ? `{bold}${name}{/bold}` : name} ${shownMark}${count}`;
  return g.canon === active ? `{inverse}${row}{/inverse}` : row;
}
