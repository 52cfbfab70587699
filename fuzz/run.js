#!/usr/bin/env node
'use strict';
/**
 * `npm run fuzz [-- SECONDS]`: runs the fast-check properties of __tests__/fuzz/ for SECONDS in
 * all (default 60), shared evenly between them, instead of the few hundred cases each runs in
 * `npm test`. Prints how many cases each property ran. A failure prints fast-check's report
 * (seed, path and the shrunk counterexample) and exits non-zero.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const DEFAULT_SECONDS = 60;
const root = path.join(__dirname, '..');
const testDir = path.join(root, '__tests__', 'fuzz');

const arg = process.argv[2];
const seconds = arg === undefined ? DEFAULT_SECONDS : Number(arg);
if (!Number.isFinite(seconds) || seconds <= 0) {
  process.stderr.write(`fuzz: SECONDS must be a positive number, not "${arg}"\n`);
  process.exit(2);
}

// Each property calls runFuzz once; counting the calls shares the time out before jest starts.
const properties = fs
  .readdirSync(testDir)
  .filter((f) => f.endsWith('.test.ts'))
  .reduce(
    (n, f) => n + (fs.readFileSync(path.join(testDir, f), 'utf8').match(/\brunFuzz\(/g) ?? []).length,
    0,
  );

const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-fuzz-'));
const report = path.join(reportDir, 'report.jsonl');
process.stdout.write(
  `fuzzing ${properties} properties for ${seconds} s (about ${(seconds / properties).toFixed(1)} s each)\n`,
);

const result = spawnSync(
  process.execPath,
  [require.resolve('jest/bin/jest'), '__tests__/fuzz', '--runInBand'],
  {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      FUZZ_SECONDS: String(seconds),
      FUZZ_PROPERTIES: String(properties),
      FUZZ_REPORT: report,
    },
  },
);

const rows = fs.existsSync(report)
  ? fs
      .readFileSync(report, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
fs.rmSync(reportDir, { recursive: true, force: true });

const width = Math.max(8, ...rows.map((r) => r.name.length));
process.stdout.write(
  `\n${'property'.padEnd(width)}  ${'cases'.padStart(10)}  ${'seconds'.padStart(8)}  ${'cases/s'.padStart(9)}\n`,
);
let total = 0;
for (const r of rows) {
  total += r.runs;
  const s = r.ms / 1000;
  process.stdout.write(
    `${r.name.padEnd(width)}  ${String(r.runs).padStart(10)}  ${s.toFixed(1).padStart(8)}  ${Math.round(
      r.runs / Math.max(s, 0.001),
    )
      .toString()
      .padStart(9)}\n`,
  );
}
process.stdout.write(`${'total'.padEnd(width)}  ${String(total).padStart(10)}\n`);
if (rows.length < properties)
  process.stdout.write(`(${properties - rows.length} properties did not report: see above)\n`);
process.exit(result.status ?? 1);
