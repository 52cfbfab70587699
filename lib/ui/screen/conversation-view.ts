/**
 * Conversation view: the messages of the open conversation as wrapped screen lines, with the
 * time, the sender, a day separator when the day changes, and our own messages marked
 * sending → sent (or queued) → delivered → read. Lines are made here, to our own width rules,
 * and the view shows a window of them counted from the newest line, so that a resize or a new
 * message keeps the conversation pinned to the bottom unless the user scrolled up.
 */
import blessed from 'neo-blessed';
import type { ChatMessage, MessageState } from '../../client/types';
import { displayWidth, toDrawable, wrapToWidth } from '../width';

/** What the mark after our own message says. Incoming messages carry none. */
export const STATE_MARK: Record<MessageState, string> = {
  sending: 'sending',
  sent: 'sent',
  queued: 'queued',
  failed: 'failed',
  delivered: 'delivered',
  read: 'read',
  received: '',
  shown: '',
};

const pad2 = (n: number) => String(n).padStart(2, '0');
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function timeOfDay(ts: number): string {
  const d = new Date(ts);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

export function dayLabel(ts: number): string {
  const d = new Date(ts);
  return `${DAYS[d.getDay()]} ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()}`;
}

const dayKey = (ts: number) => new Date(ts).toDateString();

/** One line of the view: plain drawable text (for width) and the tagged form (for blessed). */
export interface ViewLine {
  readonly plain: string;
  readonly tagged: string;
}

export function messageLines(messages: readonly ChatMessage[], me: string, width: number): ViewLine[] {
  const out: ViewLine[] = [];
  let lastDay: string | undefined;
  for (const m of messages) {
    // The sender's clock decides the shown time and day; order stays by arrival (PROTOCOL.md 8.3).
    if (dayKey(m.ts) !== lastDay) {
      lastDay = dayKey(m.ts);
      const label = ` ${dayLabel(m.ts)} `;
      const side = Math.max(0, width - displayWidth(label));
      const plain = '─'.repeat(Math.floor(side / 2)) + label + '─'.repeat(Math.ceil(side / 2));
      out.push({ plain, tagged: `{gray-fg}${plain}{/gray-fg}` });
    }
    const who = toDrawable(m.direction === 'out' ? me : m.peerName);
    const prefix = `${timeOfDay(m.ts)} ${who}: `;
    const indent = ' '.repeat(Math.min(displayWidth(prefix), Math.floor(width / 2)));
    const bodyWidth = Math.max(2, width - indent.length);
    const body = wrapToWidth(toDrawable(m.body, true), bodyWidth);
    const mark = STATE_MARK[m.state];
    const nameTag = m.direction === 'out' ? 'cyan-fg' : 'yellow-fg';
    body.forEach((text, i) => {
      const lead = i === 0 ? prefix : indent;
      const plain = lead + text;
      const tagged =
        i === 0
          ? `{gray-fg}${timeOfDay(m.ts)}{/gray-fg} {${nameTag}}{bold}${blessed.escape(who)}{/bold}{/${nameTag}}: ${blessed.escape(text)}`
          : indent + blessed.escape(text);
      out.push({ plain, tagged });
    });
    if (mark) {
      const last = out[out.length - 1];
      const room = width - displayWidth(last.plain);
      if (room >= mark.length + 2) {
        const gap = ' '.repeat(room - mark.length);
        out[out.length - 1] = {
          plain: last.plain + gap + mark,
          tagged: `${last.tagged}${gap}{gray-fg}${mark}{/gray-fg}`,
        };
      } else {
        const gap = ' '.repeat(Math.max(0, width - mark.length));
        out.push({ plain: gap + mark, tagged: `${gap}{gray-fg}${mark}{/gray-fg}` });
      }
    }
  }
  return out;
}

/**
 * The window of `height` lines that ends `fromBottom` lines above the newest one. Returns the
 * clamped offset too (it cannot scroll above the first line).
 */
export function visibleWindow(
  lines: readonly ViewLine[],
  height: number,
  fromBottom: number,
): { lines: ViewLine[]; fromBottom: number } {
  const maxOffset = Math.max(0, lines.length - height);
  const off = Math.min(Math.max(0, fromBottom), maxOffset);
  const end = lines.length - off;
  return { lines: lines.slice(Math.max(0, end - height), end), fromBottom: off };
}
