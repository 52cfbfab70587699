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
import { nameColour, paint, themeFor, type Theme } from './theme';

/** What the mark after our own message says. Incoming messages carry none. */
export const STATE_MARK: Record<MessageState | 'failed', string> = {
  sending: 'sending',
  sent: 'sent',
  queued: 'queued',
  delivered: 'delivered',
  read: 'read',
  received: '',
  shown: '',
  /** Can never be delivered (the relay answered unknown_user): /delete removes it. */
  failed: 'failed, /delete',
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

export interface ViewOptions {
  readonly theme?: Theme;
  /** The first message not seen before this conversation was opened: a marker line above it. */
  readonly markerId?: string;
  /** Text searched for: shown highlighted in the bodies. */
  readonly search?: string;
  /**
   * A group conversation (issue 16): the mark after our own message, "delivered to 3 of 5,
   * read by 2", instead of its state; undefined keeps the state's mark.
   */
  readonly groupMark?: (m: ChatMessage) => string | undefined;
}

/** The read marker line's words. */
export const MARKER_LABEL = ' new since you last looked ';

function highlight(theme: Theme, text: string, search: string | undefined): string {
  if (!search) return blessed.escape(text);
  const lower = text.toLowerCase();
  const needle = search.toLowerCase();
  let out = '';
  let at = 0;
  for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, i + needle.length)) {
    out +=
      blessed.escape(text.slice(at, i)) +
      `{inverse}${paint(theme, theme.match, blessed.escape(text.slice(i, i + needle.length)))}{/inverse}`;
    at = i + needle.length;
  }
  return out + blessed.escape(text.slice(at));
}

export function messageLines(
  messages: readonly ChatMessage[],
  me: string,
  width: number,
  opts: ViewOptions = {},
): ViewLine[] {
  const theme = opts.theme ?? themeFor('dark', {});
  const dim = (t: string) => paint(theme, theme.dim, t);
  const out: ViewLine[] = [];
  let lastDay: string | undefined;
  for (const m of messages) {
    // The sender's clock decides the shown time and day; order stays by arrival (PROTOCOL.md 8.3).
    if (dayKey(m.ts) !== lastDay) {
      lastDay = dayKey(m.ts);
      const label = ` ${dayLabel(m.ts)} `;
      const side = Math.max(0, width - displayWidth(label));
      const plain = '─'.repeat(Math.floor(side / 2)) + label + '─'.repeat(Math.ceil(side / 2));
      out.push({ plain, tagged: dim(plain) });
    }
    if (m.id === opts.markerId) {
      const side = Math.max(0, width - displayWidth(MARKER_LABEL));
      const plain = '─'.repeat(Math.floor(side / 2)) + MARKER_LABEL + '─'.repeat(Math.ceil(side / 2));
      out.push({ plain, tagged: paint(theme, theme.marker, plain) });
    }
    // In a group, each message names the member who wrote it.
    const sender = m.sender ?? m.peerName;
    const who = toDrawable(m.direction === 'out' ? me : sender);
    const prefix = `${timeOfDay(m.ts)} ${who}: `;
    const indent = ' '.repeat(Math.min(displayWidth(prefix), Math.floor(width / 2)));
    const bodyWidth = Math.max(2, width - indent.length);
    const body = wrapToWidth(toDrawable(m.body, true), bodyWidth);
    const state = m.state as MessageState | 'failed';
    const mark =
      (m.direction === 'out' && state !== 'failed' ? opts.groupMark?.(m) : undefined) ??
      STATE_MARK[state] ??
      '';
    const markTag = (t: string) =>
      state === 'failed' ? paint(theme, theme.error, `{bold}${t}{/bold}`) : dim(t);
    const nameColor = m.direction === 'out' ? theme.self : nameColour(theme, sender);
    body.forEach((text, i) => {
      const lead = i === 0 ? prefix : indent;
      const plain = lead + text;
      const tagged =
        i === 0
          ? `${dim(timeOfDay(m.ts))} ${paint(theme, nameColor, `{bold}${blessed.escape(who)}{/bold}`)}: ${highlight(theme, text, opts.search)}`
          : indent + highlight(theme, text, opts.search);
      out.push({ plain, tagged });
    });
    if (mark) {
      const last = out[out.length - 1];
      const room = width - displayWidth(last.plain);
      if (room >= mark.length + 2) {
        const gap = ' '.repeat(room - mark.length);
        out[out.length - 1] = {
          plain: last.plain + gap + mark,
          tagged: `${last.tagged}${gap}${markTag(mark)}`,
        };
      } else {
        const gap = ' '.repeat(Math.max(0, width - mark.length));
        out.push({ plain: gap + mark, tagged: `${gap}${markTag(mark)}` });
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
