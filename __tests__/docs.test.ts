import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LOCAL_ERROR_CODES, WIRE_ERROR_CODES } from '../lib/errors';
import { ensureBuilt } from './helpers/dist';

/** Keeps the error registry, the CLI and the documents in step (STYLE.md: "a test that keeps codes, types and docs in step"). */
const ROOT = path.join(__dirname, '..');
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');

describe('docs/protocol.md', () => {
  const doc = read('docs/protocol.md');

  it.each([...WIRE_ERROR_CODES])('documents the wire error code %s', (code) => {
    expect(doc).toMatch(new RegExp(`^\\| \`${code}\` +\\|`, 'm'));
  });

  it.each([...LOCAL_ERROR_CODES])('documents the local error code %s', (code) => {
    expect(doc).toMatch(new RegExp(`^\\| \`${code}\` +\\|`, 'm'));
  });

  it('documents no code that the registry lacks', () => {
    const tables = doc.slice(
      doc.indexOf('### Wire error codes'),
      doc.indexOf('## Choices where the contract is silent'),
    );
    const documented = [...tables.matchAll(/^\| `([a-z_]+)` +\|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...WIRE_ERROR_CODES, ...LOCAL_ERROR_CODES].sort());
  });
});

describe('README.md', () => {
  const readme = read('README.md');

  it('links the protocol document, which exists', () => {
    expect(readme).toContain('](docs/protocol.md)');
    expect(fs.existsSync(path.join(ROOT, 'docs', 'protocol.md'))).toBe(true);
  });

  it('describes every option that chatsecure --help lists', () => {
    ensureBuilt(['cli.js']);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'chatsecure'), '--help'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const options = [...new Set([...r.stdout.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]))];
    expect(options.length).toBeGreaterThan(10);
    for (const opt of options) expect(readme).toContain(`\`${opt}`);
    for (const cmd of ['fingerprint', 'logs', 'admin', 'config --print', 'completion'])
      expect(readme).toContain(`chatsecure ${cmd}`);
  }, 60_000);
});

describe('man/chatsecure.1', () => {
  const man = read('man/chatsecure.1');

  it('describes every option that chatsecure --help lists, and every command', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'chatsecure'), '--help'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const options = [...new Set([...r.stdout.matchAll(/(?<![\w-])--([a-z][a-z-]*)/g)].map((m) => m[1]))];
    expect(options.length).toBeGreaterThan(10);
    // troff writes a dash as \-.
    for (const opt of options) expect(man).toContain(`\\-\\-${opt.replace(/-/g, '\\-')}`);
    for (const cmd of ['fingerprint', 'logs', 'admin', 'config', 'completion'])
      expect(man).toContain(`.B chatsecure ${cmd}`);
  }, 60_000);
});
