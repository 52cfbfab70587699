// neo-blessed (pinned 0.2.0) is a fork of blessed with the same API: type it through @types/blessed.
declare module 'neo-blessed' {
  import * as blessed from 'blessed';
  export = blessed;
}

// The width tables blessed draws with; lib/ui/screen/blessed-width.ts replaces them with ours.
declare module 'neo-blessed/lib/unicode' {
  const unicode: {
    charWidth: (str: string | number, i?: number) => number;
    strWidth: (str: string) => number;
    combining: Record<number, boolean>;
    chars: { all: RegExp; combining: RegExp; surrogate: RegExp; wide: RegExp };
  };
  export = unicode;
}
