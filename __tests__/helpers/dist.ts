/**
 * The tests that run the built binary or modules need dist/ (`npm test` builds it first). Run
 * alone (`npx jest FILE`), such a test builds it once when it is missing, or, with `fresh`, older
 * than the sources. tsc may report type errors elsewhere and still emit: the file counts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** `dist/lib/<parts>`, built when missing (or stale, with `fresh`); throws a sentence if it is still missing. */
export function ensureBuilt(parts: readonly string[], opts: { fresh?: boolean } = {}): string {
  const built = path.join(ROOT, 'dist', 'lib', ...parts);
  const stale = () =>
    opts.fresh === true && fs.statSync(built).mtimeMs < newestSource(path.join(ROOT, 'lib'));
  if (!fs.existsSync(built) || stale())
    spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'ignore' });
  if (!fs.existsSync(built)) throw new Error(`dist/lib/${parts.join('/')} is not built: run npm run build`);
  return built;
}
