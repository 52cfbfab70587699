/**
 * Colours of the full screen, as blessed tags. Two themes (a dark and a light terminal
 * background) and no colour at all when `NO_COLOR` is set (https://no-color.org): then only
 * bold and inverse mark things. Each peer's name has its own colour, a stable hash of the name,
 * as in weechat and irssi.
 */
export interface Theme {
  readonly color: boolean;
  /** Times, day separators, delivery marks, the typing line. */
  readonly dim: string;
  readonly self: string;
  readonly error: string;
  readonly marker: string;
  readonly match: string;
  /** Colours for other people's names. */
  readonly names: readonly string[];
}

export type ThemeName = 'dark' | 'light';

const DARK: Theme = {
  color: true,
  dim: 'gray',
  self: 'cyan',
  error: 'red',
  marker: 'yellow',
  match: 'yellow',
  names: ['yellow', 'green', 'magenta', 'light-blue', 'light-red', 'light-green', 'light-magenta'],
};

const LIGHT: Theme = {
  color: true,
  dim: 'blue',
  self: 'blue',
  error: 'red',
  marker: 'magenta',
  match: 'magenta',
  names: ['red', 'green', 'magenta', 'blue', 'cyan'],
};

export function themeFor(name: ThemeName | undefined, env: NodeJS.ProcessEnv = process.env): Theme {
  const base = name === 'light' ? LIGHT : DARK;
  // NO_COLOR: "when present and not an empty string".
  return env.NO_COLOR ? { ...base, color: false } : base;
}

/** `text` (already escaped for blessed) in `color`, unless colour is off. */
export function paint(theme: Theme, color: string, text: string): string {
  return theme.color ? `{${color}-fg}${text}{/${color}-fg}` : text;
}

/** A stable colour for a name: the same name has the same colour in every run. */
export function nameColour(theme: Theme, name: string): string {
  let h = 0x811c9dc5;
  for (const ch of name.toLowerCase()) h = Math.imul(h ^ (ch.codePointAt(0) as number), 0x01000193) >>> 0;
  return theme.names[h % theme.names.length];
}
