/**
 * The event-loop stalls of the relay store's commits (issue 12, the checkpoint lever): envelopes
 * enqueued at a fixed offered rate for an online recipient (each acked once committed, as the
 * relay does), with the event-loop delay and the enqueue → committed / → durable times recorded.
 * Run against one build or another to compare them in one session:
 *
 *   node dist/bench/checkpoint-stall.js [path/to/sqlite-store.js] [msgs/s] [seconds]
 *
 * (default: this build's store, 2,000 msgs/s, 6 s).
 *
 * What it showed for the checkpoint lever (2026-12-02, 2,000 msgs/s, 5 alternating pairs, medians;
 * shared 2-core machine): SQLite's automatic checkpoint on the relay's connection against a
 * second connection checkpointing on a worker thread with `wal_autocheckpoint = 0`:
 * committed p99 1.10 → 1.15 ms, max 8.4 → 9.3 ms; durable p99 9.5 → 9.8 ms; event-loop delay
 * max 11.4 → 9.6 ms; WAL 4.1 → 10.6 MB (6-33 MB: under steady load a PASSIVE checkpoint rarely
 * ends with every frame copied, so the WAL seldom starts again). With no checkpoint at all (the
 * ceiling of any such lever, 3 pairs): committed max 3.2/16.6/8.3 → 5.3/6.1/10.4 ms, event-loop
 * delay max alike, WAL 55-63 MB. The checkpoint is not where this machine's tail comes from; the
 * lever was not kept.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import type { RelayStore } from '../lib/server/store';

type Open = (dir: string) => RelayStore;

function pct(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function main(): Promise<void> {
  const mod = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'lib', 'server', 'sqlite-store.js'));
  const rate = Number(process.argv[3] ?? 2000);
  const seconds = Number(process.argv[4] ?? 6);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { openRelayStore } = require(mod) as { openRelayStore: Open };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-ckpt-bench-'));
  const store = openRelayStore(dir);
  const wal = path.join(dir, 'relay.db-wal');
  try {
    const user = (name: string) => ({
      name,
      canon: name,
      signKey: randomBytes(32),
      dhKey: randomBytes(32),
      idcert: randomBytes(64),
    });
    await store.register(user('eve'), Date.now());
    const committedMs: number[] = [];
    const durableMs: number[] = [];
    let maxWal = 0;
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const start = performance.now();
    const total = Math.round(rate * seconds);
    let sent = 0;
    const writes: Promise<unknown>[] = [];
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const due = Math.min(total, Math.round(((performance.now() - start) / 1000) * rate));
        for (; sent < due; sent++) {
          const t0 = performance.now();
          const id = `m${sent}`;
          const env = { id, to: 'eve', from: `a${sent % 10}`, env: randomBytes(100), ts: Date.now() };
          writes.push(
            store
              .enqueue(env, undefined, () => {
                committedMs.push(performance.now() - t0);
                void store.ack('eve', id);
              })
              .then(() => durableMs.push(performance.now() - t0)),
          );
        }
        try {
          maxWal = Math.max(maxWal, fs.statSync(wal).size);
        } catch {
          // No WAL file yet: nothing to measure.
        }
        if (sent >= total) {
          clearInterval(tick);
          resolve();
        }
      }, 1);
    });
    await Promise.all(writes);
    h.disable();
    committedMs.sort((a, b) => a - b);
    durableMs.sort((a, b) => a - b);
    const f = (n: number) => n.toFixed(2);
    console.log(
      JSON.stringify({
        store: mod,
        rate,
        messages: total,
        committedMs: {
          p50: f(pct(committedMs, 0.5)),
          p99: f(pct(committedMs, 0.99)),
          max: f(pct(committedMs, 1)),
        },
        durableMs: { p50: f(pct(durableMs, 0.5)), p99: f(pct(durableMs, 0.99)), max: f(pct(durableMs, 1)) },
        loopDelayMs: { p99: f(h.percentile(99) / 1e6), max: f(h.max / 1e6) },
        maxWalBytes: maxWal,
      }),
    );
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
