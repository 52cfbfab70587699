#!/usr/bin/env node
// Exit 0 when lib/crypto/, the crypto tests or the Stryker config differ from what the committed
// incremental file (.ci/stryker-incremental.json) was made from; exit 1 when all are the same.
// .ci/run runs the mutation job only in the first case: no git history needed.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const incremental = path.join(__dirname, 'stryker-incremental.json');
if (!fs.existsSync(incremental)) process.exit(0);
const report = JSON.parse(fs.readFileSync(incremental, 'utf8'));

const config = JSON.parse(fs.readFileSync(path.join(root, 'stryker.config.json'), 'utf8'));
const read = (f) =>
  fs.existsSync(path.join(root, f)) ? fs.readFileSync(path.join(root, f), 'utf8') : undefined;
const recorded = { ...report.files, ...report.testFiles };
const changed = [
  // A recorded source or test that changed or went away.
  ...Object.keys(recorded).filter((f) => recorded[f].source !== read(f)),
];
// A new test file: nothing imports it, so it counts on its own when it imports a mutated module
// (the report lists only test files that cover mutants: primitives.ts's tests are not in it).
const mutatedImport = /from '[./]*lib\/crypto\/(?!primitives')[\w/-]+'/;
const testsDir = path.join(root, '__tests__', 'crypto');
/** Files under `dir` whose name matches `pattern`, relative to the repo root, with `/`. */
const walk = (dir, pattern) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p, pattern);
    return pattern.test(e.name) ? [path.relative(root, p).split(path.sep).join('/')] : [];
  });
if (fs.existsSync(testsDir))
  changed.push(
    ...walk(testsDir, /\.test\.ts$/).filter((f) => !(f in recorded) && mutatedImport.test(read(f) ?? '')),
  );
// A new source file that the config mutates and the report does not list. Without this, a new
// crypto file that no other crypto file imports would never be mutation-tested. A file in which
// Stryker finds no mutant is never in the report: it is listed below by name.
const cryptoDir = path.join(root, 'lib', 'crypto');
const excluded = new Set([
  ...(config.mutate ?? []).filter((g) => g.startsWith('!')).map((g) => g.slice(1)),
  // Code in which Stryker finds no mutant (one re-export of a function), so never in the report.
  'lib/crypto/random-source.ts',
]);
if (fs.existsSync(cryptoDir))
  changed.push(...walk(cryptoDir, /\.ts$/).filter((f) => !excluded.has(f) && !(f in recorded)));
// What is mutated, which mutants are left out, and the threshold the job must meet.
const KEYS = ['mutate', 'mutator', 'appendPlugins', 'ignorers', 'thresholds'];
// Stryker records its defaults too (mutator.plugins): compare only what the config file sets.
const differs = (mine, recorded) =>
  mine && typeof mine === 'object' && !Array.isArray(mine)
    ? Object.keys(mine).some((k) => differs(mine[k], recorded?.[k]))
    : JSON.stringify(mine) !== JSON.stringify(recorded);
if (KEYS.some((k) => differs(config[k], report.config?.[k]))) changed.push('stryker.config.json');
if (changed.length) {
  console.log(`crypto changed since the last mutation run: ${changed.join(', ')}`);
  process.exit(0);
}
console.log('lib/crypto/ and its tests are as at the last mutation run: mutation job skipped');
process.exit(1);
