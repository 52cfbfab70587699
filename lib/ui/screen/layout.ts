/**
 * Layout: where each pane goes for a terminal of `cols` × `rows`. A pure function, so a resize
 * is just "compute again and redraw". Below SIDEBAR_MIN_COLS the contact list hides and the
 * conversation takes the width (40×10 must still work: issue 5).
 */
import blessed from 'neo-blessed';
import { drawPreSized } from './blessed-width';

export interface Rect {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

export interface Layout {
  /** Contacts; undefined when the terminal is too narrow for it. */
  readonly sidebar: Rect | undefined;
  /** The conversation, with its border. */
  readonly conversation: Rect;
  readonly typing: Rect;
  readonly input: Rect;
  readonly status: Rect;
}

/** Narrower than this, the contact list would squeeze the conversation below use. */
export const SIDEBAR_MIN_COLS = 60;
/** The contact list's width: room for "9 ● " a name and an unread count. */
export const SIDEBAR_WIDTH = 24;
/** Typing line, input line, status line. */
const BOTTOM_ROWS = 3;
/** A bordered pane needs two rows of border and one of content. */
const PANE_MIN_ROWS = 3;

export function computeLayout(cols: number, rows: number): Layout {
  const paneHeight = Math.max(PANE_MIN_ROWS, rows - BOTTOM_ROWS);
  const sidebarWidth = cols >= SIDEBAR_MIN_COLS ? Math.min(SIDEBAR_WIDTH, Math.floor(cols / 3)) : 0;
  const line = (top: number): Rect => ({ left: 0, top, width: Math.max(1, cols), height: 1 });
  return {
    sidebar: sidebarWidth > 0 ? { left: 0, top: 0, width: sidebarWidth, height: paneHeight } : undefined,
    conversation: { left: sidebarWidth, top: 0, width: Math.max(4, cols - sidebarWidth), height: paneHeight },
    typing: line(paneHeight),
    input: line(paneHeight + 1),
    status: line(paneHeight + 2),
  };
}

/** Inner size of a bordered pane. */
export function innerSize(r: Rect): { width: number; height: number } {
  return { width: Math.max(1, r.width - 2), height: Math.max(1, r.height - 2) };
}

export interface Panes {
  readonly sidebar: blessed.Widgets.BoxElement;
  readonly conversation: blessed.Widgets.BoxElement;
  readonly typing: blessed.Widgets.BoxElement;
  readonly input: blessed.Widgets.BoxElement;
  readonly status: blessed.Widgets.BoxElement;
}

/** The boxes. blessed only positions them; their content is drawn by our renderers. */
export function createPanes(screen: blessed.Widgets.Screen, color = true): Panes {
  const pane = (label: string) =>
    blessed.box({
      parent: screen,
      tags: true,
      wrap: false,
      border: { type: 'line' },
      label,
      style: color ? { border: { fg: 'blue' }, label: { bold: true } } : { label: { bold: true } },
    });
  const line = (style: Record<string, unknown>) =>
    blessed.box({ parent: screen, tags: true, wrap: false, height: 1, style });
  const panes = {
    sidebar: pane(' Contacts '),
    conversation: pane(' ChatSecure '),
    typing: line({}),
    input: line({}),
    status: line(color ? { fg: 'white', bg: 'blue' } : { inverse: true }),
  };
  Object.values(panes).forEach(drawPreSized);
  return panes;
}

export function applyLayout(p: Panes, l: Layout): void {
  const place = (box: blessed.Widgets.BoxElement, r: Rect | undefined) => {
    if (!r) {
      box.hide();
      return;
    }
    box.show();
    box.left = r.left;
    box.top = r.top;
    box.width = r.width;
    box.height = r.height;
  };
  place(p.sidebar, l.sidebar);
  place(p.conversation, l.conversation);
  place(p.typing, l.typing);
  place(p.input, l.input);
  place(p.status, l.status);
}
