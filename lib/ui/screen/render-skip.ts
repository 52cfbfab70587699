/**
 * Keystroke latency (issue 11): blessed draws every element into its cell buffer on every frame,
 * though a keystroke changes the input line only; walking the conversation's and the contact
 * list's cells again is most of what a key costs. blessed keeps that buffer (`screen.lines`)
 * from one frame to the next and writes to the terminal only the cells that changed, so an
 * element that would draw exactly what it drew last time can be left out of the frame.
 *
 * An element is left out only when nothing that goes into its cells changed:
 * - the frame's layout is as before: the same screen size and buffer (a resize or Ctrl+L makes a
 *   new one), the same elements in the same tree, each with the same position, visibility and,
 *   for an element sized by its content (a label), the same content. Any change there and the
 *   whole frame is drawn, as blessed does;
 * - its own drawing inputs are as before: processed content, colours (focus included), border
 *   colours, scroll position, fill character;
 * - no element drawn before it in this frame overlaps it (a pane redrawn under its own label
 *   would erase the label: then the label is drawn again too).
 * Its children are still asked (each decides for itself). Elements drawn over it need nothing:
 * an element draws every cell of its box, so a later one that changed covers its own box.
 */
import blessed from 'neo-blessed';

interface Rect {
  readonly xi: number;
  readonly xl: number;
  readonly yi: number;
  readonly yl: number;
}

/** The parts of a blessed element read here (blessed's own, untyped in @types/blessed). */
interface El {
  readonly screen: Scr;
  readonly children: El[];
  readonly hidden: boolean;
  readonly shrink?: boolean;
  readonly position: object;
  readonly content: string;
  readonly style: object & { border?: object };
  readonly border?: object;
  readonly childBase?: number;
  readonly childOffset?: number;
  readonly ch?: string;
  readonly uid: number;
  readonly _pcontent?: string;
  readonly lpos?: Rect;
  readonly detached?: boolean;
  index: number;
  _getCoords(get?: boolean): Rect | undefined;
  parseContent(): void;
  setContent(content: string, noClear?: boolean, noTags?: boolean): void;
  setLabel(options: string | object): void;
  readonly _label?: El;
  clearPos(get?: boolean, override?: boolean): void;
  sattr(style: object): number;
  render(): unknown;
}

interface Scr {
  readonly children: El[];
  readonly lines: unknown[];
  readonly cols: number;
  readonly rows: number;
  _ci: number;
  render(): void;
  clearRegion(xi: number, xl: number, yi: number, yl: number, override?: boolean): void;
}

interface FrameState {
  /** The layout is as in the frame before: elements may be left out. */
  stable: boolean;
  /** Boxes drawn so far in this frame, and at its start those blanked since the last one. */
  drawn: Rect[];
  /** Boxes blanked (blessed's clearPos: new content, hide, move) since the last frame began. */
  cleared: Rect[];
  layout: string;
  lines: unknown[] | undefined;
  /** What each element drew last, by uid. */
  readonly last: Map<number, string>;
}

const frames = new WeakMap<Scr, FrameState>();
let patched = false;

function layoutOf(screen: Scr): string {
  const parts: string[] = [`${screen.cols}x${screen.rows}`];
  const walk = (els: readonly El[], depth: number) => {
    for (const el of els) {
      parts.push(
        `${depth}:${el.uid}:${el.hidden ? 1 : 0}:${JSON.stringify(el.position)}:${el.shrink ? el.content : ''}`,
      );
      walk(el.children, depth + 1);
    }
  };
  walk(screen.children, 0);
  return parts.join('\n');
}

function inputsOf(el: El): string {
  const border = el.border && el.style.border ? el.sattr(el.style.border) : '';
  return `${el.sattr(el.style)}|${border}|${el.childBase ?? 0}|${el.childOffset ?? 0}|${el.ch ?? ''}\n${el._pcontent ?? ''}`;
}

const overlaps = (a: Rect, b: Rect) => a.xi < b.xl && b.xi < a.xl && a.yi < b.yl && b.yi < a.yl;

/** Leaves unchanged elements out of `screen`'s frames (see the file's comment). */
export function skipUnchangedElements(screen: blessed.Widgets.Screen): void {
  const scr = screen as unknown as Scr;
  if (frames.has(scr)) return;
  const state: FrameState = {
    stable: false,
    drawn: [],
    cleared: [],
    layout: '',
    lines: undefined,
    last: new Map(),
  };
  frames.set(scr, state);
  const renderFrame = scr.render.bind(scr);
  scr.render = () => {
    const layout = layoutOf(scr);
    state.stable = layout === state.layout && scr.lines === state.lines;
    state.layout = layout;
    // What was blanked must be drawn again by whatever lies there.
    state.drawn = state.cleared;
    state.cleared = [];
    try {
      renderFrame();
    } finally {
      state.lines = scr.lines;
    }
  };
  if (patched) return;
  patched = true;
  const proto = (blessed as unknown as { Element: { prototype: El } }).Element.prototype;
  // blessed blanks an element's box on every setContent; the same content again is a no-op here,
  // so that an unchanged element keeps its cells (and can be left out).
  const setContent = proto.setContent;
  proto.setContent = function (this: El, content, noClear, noTags) {
    if (frames.has(this.screen) && (content || '') === this.content && !noTags) return;
    setContent.call(this, content, noClear, noTags);
  };
  // The same label again: blessed would move it away and back (blanking it twice); a no-op.
  const setLabel = proto.setLabel;
  proto.setLabel = function (this: El, options) {
    if (frames.has(this.screen) && typeof options === 'string' && this._label?.content === options) return;
    setLabel.call(this, options);
  };
  // As blessed's, and the blanked box is remembered (see `cleared`).
  proto.clearPos = function (this: El, get, override) {
    if (this.detached) return;
    const pos = this._getCoords(get);
    if (!pos) return;
    const frame = frames.get(this.screen);
    if (frame) {
      const box = { xi: pos.xi, xl: pos.xl, yi: pos.yi, yl: pos.yl };
      frame.cleared.push(box);
      frame.drawn.push(box);
    }
    this.screen.clearRegion(pos.xi, pos.xl, pos.yi, pos.yl, override);
  };
  const renderElement = proto.render;
  proto.render = function (this: El) {
    const frame = frames.get(this.screen);
    if (!frame) return renderElement.call(this);
    this.parseContent();
    const inputs = inputsOf(this);
    const box = this.lpos;
    if (
      frame.stable &&
      box &&
      !this.hidden &&
      frame.last.get(this.uid) === inputs &&
      !frame.drawn.some((d) => overlaps(d, box))
    ) {
      for (const child of this.children) {
        if (child.screen._ci !== -1) child.index = child.screen._ci++;
        child.render();
      }
      return box;
    }
    // Its box before its children draw (they come inside blessed's render): in a stable frame
    // the box is the one of the frame before.
    if (box) frame.drawn.push(box);
    const out = renderElement.call(this);
    frame.last.set(this.uid, inputs);
    return out;
  };
}
