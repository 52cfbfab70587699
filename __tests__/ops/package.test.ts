/**
 * What `npm pack` ships, and a global install from that tarball into a temporary prefix (as a
 * user without a checkout would install it), then `chatsecure --version` from there.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/relay-harness';
import { ensureBuilt } from '../helpers/dist';

const ROOT = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  private?: boolean;
  man?: string[];
};
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

let tarball: string;
let files: string[];

beforeAll(() => {
  ensureBuilt(['cli.js']);
  const d = tempDir('chatsecure-pack-');
  dirs.push(d);
  // --ignore-scripts: dist/ is built above; `prepare` would build it again.
  const r = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', d], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
  const [info] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(d, info.filename);
  files = info.files.map((f) => f.path);
}, 180_000);

describe('npm pack', () => {
  it('ships the program, the man page, the licence and the protocol, and nothing else', () => {
    for (const f of [
      'bin/chatsecure',
      'dist/lib/cli.js',
      'man/chatsecure.1',
      'LICENSE',
      'README.md',
      'docs/protocol.md',
    ])
      expect(files).toContain(f);
    expect(files).toContain('deploy/chatsecure.service');
    expect(files.filter((f) => f.startsWith('bench/') || f.startsWith('dist/bench/'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('lib/') || f.startsWith('__tests__/'))).toEqual([]);
    // A source map would point to lib/*.ts, which is not shipped.
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
  });

  it('can be published and installs its man page', () => {
    expect(pkg.private).toBeUndefined();
    expect(pkg.man).toEqual(['man/chatsecure.1']);
    expect(fs.existsSync(path.join(ROOT, 'LICENSE'))).toBe(true);
  });

  it('installs globally from the tarball into a fresh prefix; chatsecure --version runs from there', () => {
    const prefix = tempDir('chatsecure-prefix-');
    dirs.push(prefix);
    const r = spawnSync(
      'npm',
      ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball],
      { encoding: 'utf8', cwd: prefix },
    );
    expect(r.stderr).not.toMatch(/npm (ERR|error)/);
    expect(r.status).toBe(0);
    const bin = path.join(prefix, 'bin', 'chatsecure');
    const v = spawnSync(bin, ['--version'], { encoding: 'utf8', cwd: prefix });
    expect(v.stderr).toBe('');
    expect(v.stdout).toBe(`${pkg.version}\n`);
    const h = spawnSync(bin, ['-h'], { encoding: 'utf8', cwd: prefix });
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('chatsecure --serve');
    expect(fs.existsSync(path.join(prefix, 'share', 'man', 'man1', 'chatsecure.1'))).toBe(true);
  }, 600_000);
});
