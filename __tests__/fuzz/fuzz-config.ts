/**
 * How long each fuzz property runs. In `npm test` a fixed, small number of cases; under
 * `npm run fuzz [SECONDS]` (fuzz/run.js) FUZZ_SECONDS is the total time, shared out evenly
 * between FUZZ_PROPERTIES properties, each running until its share is spent. Each property
 * appends `{name, runs, ms}` to FUZZ_REPORT (a JSON-lines file) so the runner can print counts.
 */
import * as fs from 'node:fs';
import fc from 'fast-check';
import { ChatError, isChatError } from '../../lib/errors';

/** Cases per property in `npm test`: enough to catch a regression, a second or so in all. */
export const DEFAULT_RUNS = 300;

const total = Number(process.env.FUZZ_SECONDS ?? '0');
const count = Math.max(1, Number(process.env.FUZZ_PROPERTIES ?? '1'));
/** Per-property time in ms when fuzzing for long; 0 in `npm test`. */
export const FUZZ_MS = Number.isFinite(total) && total > 0 ? Math.floor((total * 1000) / count) : 0;
/** A property that runs for FUZZ_MS needs jest's timeout above it. */
export const FUZZ_TIMEOUT_MS = FUZZ_MS > 0 ? FUZZ_MS + 60_000 : 30_000;

/**
 * Runs `property` for the configured time or count; fails the test with fast-check's report
 * (seed and shrunk counterexample) on a failure.
 */
export function runFuzz<T>(name: string, property: fc.IPropertyWithHooks<T> | fc.IProperty<T>): void {
  const start = Date.now();
  const params: fc.Parameters<T> =
    FUZZ_MS > 0
      ? { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false }
      : { numRuns: DEFAULT_RUNS };
  const details = fc.check(property, params);
  const report = process.env.FUZZ_REPORT;
  if (report) {
    fs.appendFileSync(report, JSON.stringify({ name, runs: details.numRuns, ms: Date.now() - start }) + '\n');
  }
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? `${name} failed`);
}

/**
 * The one allowed failure: a ChatError carrying a code. Anything else (TypeError, RangeError, a
 * plain Error, a ChatError without a code) is rethrown so the property fails on it.
 */
export function expectOnlyChatError(fn: () => unknown, allowed?: readonly string[]): unknown {
  try {
    return fn();
  } catch (err) {
    if (!isChatError(err) || !(err instanceof ChatError) || typeof err.code !== 'string' || !err.code) {
      throw err;
    }
    if (allowed && !allowed.includes(err.code)) {
      throw new Error(`unexpected code ${err.code}: ${err.message}`, { cause: err });
    }
    if (typeof err.message !== 'string' || err.message.length === 0)
      throw new Error('a ChatError without a sentence');
    return undefined;
  }
}

/** Byte-level mutations of a valid input: flips, overwrites, insertions, deletions, truncation. */
export type Mutation =
  | { readonly t: 'flip'; readonly at: number; readonly bit: number }
  | { readonly t: 'set'; readonly at: number; readonly value: number }
  | { readonly t: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly t: 'delete'; readonly at: number; readonly len: number }
  | { readonly t: 'truncate'; readonly at: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ t: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ t: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    t: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ t: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ t: fc.constant('truncate' as const), at: fc.nat() }),
);

export function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.t === 'insert' ? 1 : 0));
    switch (m.t) {
      case 'flip':
        if (b.length) b[at] ^= 1 << m.bit;
        break;
      case 'set':
        if (b.length) b[at] = m.value;
        break;
      case 'insert':
        b = Uint8Array.from(Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]));
        break;
      case 'delete':
        b = Uint8Array.from(Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]));
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

/** Replaces, deletes or adds one property somewhere in a JSON tree (structure-aware mutation). */
export function mutateJson(
  v: unknown,
  path: readonly number[],
  replacement: unknown,
  del: boolean,
  newKey: string,
): unknown {
  if (typeof v !== 'object' || v === null) return replacement;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(v) ? [...v] : { ...(v as object) };
  const keys = Object.keys(copy);
  if (keys.length === 0 || path.length === 0) {
    Object.defineProperty(copy, newKey, {
      value: replacement,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    return copy;
  }
  const k = keys[path[0] % keys.length];
  const rec = copy as Record<string, unknown>;
  if (path.length === 1 && del) delete rec[k];
  else rec[k] = mutateJson(rec[k], path.slice(1), replacement, del, newKey);
  return copy;
}

/** Replacement values that tend to break validators: wrong types, edges, prototype names. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.string(),
  fc.constantFrom(
    null,
    true,
    0,
    -1,
    1.5,
    2 ** 32,
    2 ** 53,
    -0,
    1e308,
    '',
    '__proto__',
    'constructor',
    'A'.repeat(70_000),
    [],
    {},
    { __proto__: null },
    '\u0000',
    '\ud800',
    '====',
  ),
);

export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 't', 'v', 'kind'),
);

export const enc = (v: unknown): Uint8Array =>
  new Uint8Array(Buffer.from(JSON.stringify(v) ?? 'null', 'utf8'));
