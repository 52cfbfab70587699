/**
 * Keystroke latency (issue 11): render-skip.ts leaves out of a frame the elements that would
 * draw what they drew before. What must hold: the cells are exactly those blessed draws when it
 * draws everything. Two real blessed screens get the same elements (panes with labels, one-line
 * boxes, a dialog over them) and the same random changes (content, labels, a dialog shown,
 * hidden, moved, resized, brought to the front); one leaves elements out, the other does not;
 * after every frame their cell buffers must be equal, and the one leaving elements out must
 * have left some out (else the test would prove nothing).
 */
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import blessed from 'neo-blessed';
import { drawPreSized, useOurWidths } from '../../lib/ui/screen/blessed-width';
import { skipUnchangedElements } from '../../lib/ui/screen/render-skip';

const COLS = 40;
const ROWS = 12;

interface Scene {
  readonly screen: blessed.Widgets.Screen;
  readonly boxes: blessed.Widgets.BoxElement[];
  readonly dialog: blessed.Widgets.BoxElement;
  cells(): string;
  renders(): number;
}

function scene(skip: boolean): Scene {
  const output = Object.assign(new PassThrough(), { columns: COLS, rows: ROWS, isTTY: true });
  output.resume();
  const screen = blessed.screen({
    input: new PassThrough(),
    output,
    terminal: 'xterm-256color',
    fullUnicode: true,
    warnings: false,
  } as unknown as blessed.Widgets.IScreenOptions);
  if (skip) skipUnchangedElements(screen);
  let renders = 0;
  const box = (o: blessed.Widgets.BoxOptions) => {
    const b = blessed.box({ parent: screen, tags: true, wrap: false, ...o });
    drawPreSized(b);
    b.on('render', () => renders++);
    return b;
  };
  const line = { type: 'line' } as const;
  const boxes = [
    box({ left: 0, top: 0, width: 14, height: 9, border: line, label: ' Contacts ' }),
    box({ left: 14, top: 0, width: 26, height: 9, border: line, label: ' Bob ' }),
    box({ left: 0, top: 9, width: COLS, height: 1 }),
    box({ left: 0, top: 10, width: COLS, height: 1 }),
    box({ left: 0, top: 11, width: COLS, height: 1 }),
  ];
  const dialog = box({ left: 5, top: 2, width: 20, height: 5, border: line, hidden: true, label: ' Help ' });
  const cells = () =>
    (screen as unknown as { lines: [number, string][][] }).lines
      .map((row) => row.map(([attr, ch]) => `${attr}:${ch}`).join(' '))
      .join('\n');
  return { screen, boxes, dialog, cells, renders: () => renders };
}

type Op =
  | { t: 'content'; box: number; text: string }
  | { t: 'label'; box: number; text: string }
  | { t: 'show' }
  | { t: 'hide' }
  | { t: 'move'; left: number; top: number; width: number; height: number }
  | { t: 'dialog'; text: string }
  | { t: 'front' };

const text = fc.constantFrom('', 'hi', 'hello there', '{bold}Bob{/bold}: x', '日本語 👍', 'a\nb\nc', 'same');
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('content' as const), box: fc.nat(4), text }),
  fc.record({
    t: fc.constant('label' as const),
    box: fc.nat(1),
    text: fc.constantFrom(' Bob ', ' Eve ', ' a '),
  }),
  fc.constant({ t: 'show' as const }),
  fc.constant({ t: 'hide' as const }),
  fc.record({
    t: fc.constant('move' as const),
    left: fc.nat(20),
    top: fc.nat(6),
    width: fc.integer({ min: 4, max: 20 }),
    height: fc.integer({ min: 3, max: 6 }),
  }),
  fc.record({ t: fc.constant('dialog' as const), text }),
  fc.constant({ t: 'front' as const }),
);

function apply(s: Scene, o: Op): void {
  switch (o.t) {
    case 'content':
      return s.boxes[o.box].setContent(o.text);
    case 'label':
      return s.boxes[o.box].setLabel(o.text);
    case 'show':
      return s.dialog.show();
    case 'hide':
      return s.dialog.hide();
    case 'move':
      s.dialog.left = o.left;
      s.dialog.top = o.top;
      s.dialog.width = o.width;
      s.dialog.height = o.height;
      return;
    case 'dialog':
      return s.dialog.setContent(o.text);
    case 'front':
      return s.dialog.setFront();
  }
}

beforeAll(() => useOurWidths());

test('leaving unchanged elements out draws the same cells as drawing everything', () => {
  let left = 0;
  fc.assert(
    fc.property(fc.array(fc.array(op, { maxLength: 3 }), { minLength: 1, maxLength: 25 }), (frames) => {
      const all = scene(false);
      const some = scene(true);
      try {
        for (const s of [all, some]) s.screen.render();
        for (const ops of frames) {
          for (const s of [all, some]) {
            for (const o of ops) apply(s, o);
            s.screen.render();
          }
          expect(some.cells()).toBe(all.cells());
        }
        left += all.renders() - some.renders();
      } finally {
        all.screen.destroy();
        some.screen.destroy();
      }
    }),
    { numRuns: 60 },
  );
  expect(left).toBeGreaterThan(0);
});
