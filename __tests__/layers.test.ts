/**
 * The layers of DESIGN.md, checked on the sources: each layer imports only from the layers below
 * it. lib/commands is the composition root (the only place that joins lib/client and lib/ui, or
 * opens the relay's stores for a command); nothing below imports from it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const LIB = path.join(__dirname, '..', 'lib');

/** For each layer, the top-level folders of lib/ it must never import from. */
const FORBIDDEN: Record<string, readonly string[]> = {
  crypto: ['net', 'client', 'server', 'ui', 'commands'],
  net: ['client', 'server', 'ui', 'commands'],
  client: ['server', 'ui', 'commands'],
  server: ['client', 'ui', 'commands'],
  ui: ['server', 'commands'],
};

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.ts$/.test(e.name) ? [p] : [];
  });
}

/** Every module specifier of a file: static imports, re-exports and dynamic `import()`. */
function specifiers(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) found.push(m[1]);
  return found;
}

/** The top-level folder of lib/ that a relative specifier lands in, or undefined outside lib/. */
function layerOf(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const target = path.relative(LIB, path.resolve(path.dirname(file), spec));
  if (target.startsWith('..')) return undefined;
  const parts = target.split(path.sep);
  return parts.length > 1 ? parts[0] : undefined;
}

describe('the layers of DESIGN.md', () => {
  for (const [layer, forbidden] of Object.entries(FORBIDDEN)) {
    it(`lib/${layer} imports nothing from lib/${forbidden.join(', lib/')}`, () => {
      const wrong: string[] = [];
      for (const file of sources(path.join(LIB, layer))) {
        for (const spec of specifiers(file)) {
          const to = layerOf(file, spec);
          if (to !== undefined && forbidden.includes(to))
            wrong.push(`${path.relative(LIB, file)} -> ${spec}`);
        }
      }
      expect(wrong).toEqual([]);
    });
  }

  it('sees an import that crosses a layer (the check itself works)', () => {
    const file = path.join(LIB, 'client', 'x.ts');
    expect(layerOf(file, '../ui/screen/run-screen.js')).toBe('ui');
    expect(layerOf(file, './client')).toBe('client'); // the same layer: allowed
    expect(layerOf(file, '../errors')).toBeUndefined(); // lib/errors.ts: shared, no layer
  });
});
