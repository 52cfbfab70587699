/**
 * Sidebar: the contact list. Each row: the Alt+N number, a presence dot (● online, ○ offline),
 * the name, a trust mark (✓ verified, ! safety number changed, nothing when unverified) and the
 * unread count. The open conversation is shown in inverse.
 */
import blessed from 'neo-blessed';
import type { ContactInfo } from '../../client/types';
import { displayWidth, fitToWidth, toDrawable } from '../width';

export const TRUST_MARK: Record<ContactInfo['state'], string> = {
  verified: '✓',
  unverified: ' ',
  changed: '!',
};

export function sidebarLines(
  contacts: readonly ContactInfo[],
  active: string | undefined,
  width: number,
  color = true,
): string[] {
  return contacts.map((c, i) => {
    const num = i < 9 ? String(i + 1) : ' ';
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
