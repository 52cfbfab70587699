/**
 * The relay under test, in its own process (forked by bench/run.ts; load clients never share it).
 * A real Relay with a real SQLite store in a fresh temp dir and a pino log at `info`.
 *
 * The only departure from `chatsecure --serve`: the per-connection request rate limit is raised,
 * since a handful of connections must be able to push tens of thousands of messages a second,
 * and the per-address gates are opened, since all bench clients come from loopback. Every other
 * limit (delivery window, queue caps, frame size) is the default. With `defaults` after the data
 * dir (the attack phase), every limit is the default.
 *
 * Argument: the data dir. Run with --expose-gc so memory is measured after a full collection.
 */
import * as path from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import { type KeyPair, toBase64 } from '../lib/crypto/primitives';
import { closeLogger, createLogger, type Logger } from '../lib/log';
import { Relay } from '../lib/server/relay';
import { loadOrCreateRelayKey } from '../lib/server/relay-key';
import { openRelayStore } from '../lib/server/sqlite-store';
import type { RelayCommand, RelayReport } from './ipc';
import { startReferenceRelay } from './reference-relay';

/** High enough never to refuse the bench's load; the real default is 50 a second. */
const BENCH_REQUESTS_PER_SECOND = 1_000_000;

function report(r: RelayReport): void {
  process.send?.(r);
}

async function startRelay(
  dir: string,
  key: KeyPair,
  logger: Logger,
  defaults: boolean,
): Promise<{ readonly port: number; stop(): Promise<void> }> {
  const relay = await Relay.start({
    host: '127.0.0.1',
    port: 0,
    key,
    store: openRelayStore(dir),
    logger,
    // Every bench client connects from 127.0.0.1: the per-address gates (issue 10) are opened.
    limits: defaults
      ? {}
      : {
          requestsPerSecond: BENCH_REQUESTS_PER_SECOND,
          requestBurst: BENCH_REQUESTS_PER_SECOND,
          registrationsPerAddressPerHour: 1e9,
          maxHandshakesPerAddress: 1e6,
          maxHandshakes: 1e6,
          queuePerAddress: 1e9,
          queuePerNewSender: 1_000,
          opksPerTargetPerHour: 1e9,
          keysFetchPerMinute: 1e9,
        },
  });
  return { port: relay.address.port, stop: () => relay.stop() };
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: relay-process DATA_DIR [defaults|reference]');
  // `defaults`: every limit as `chatsecure --serve` has it (the attack phase, issue 10).
  // `reference`: the minimal per-hop-AEAD relay of bench/reference-relay.ts instead (issue 12).
  const mode = process.argv[3];
  const defaults = mode === 'defaults';
  const logger = createLogger({ file: path.join(dir, 'relay.log'), name: 'relay', level: 'info' });
  const { key } = loadOrCreateRelayKey(dir);
  const relay: { readonly port: number; stop(): Promise<void> } =
    mode === 'reference' ? await startReferenceRelay(key) : await startRelay(dir, key, logger, defaults);
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (cmd: RelayCommand) => {
    switch (cmd.t) {
      case 'mem': {
        if (gc) {
          gc();
          gc();
        }
        const m = process.memoryUsage();
        // The young generation is empty after a full GC, but its pages stay committed: its size
        // follows the allocation rate of the last burst, not what is held (bench/run.ts).
        const young = getHeapSpaceStatistics()
          .filter((s) => s.space_name === 'new_space' || s.space_name === 'new_large_object_space')
          .reduce((n, s) => n + s.physical_space_size, 0);
        report({ t: 'mem', rss: m.rss, heapUsed: m.heapUsed, external: m.external, young });
        return;
      }
      case 'stop':
        void relay
          .stop()
          .then(() => closeLogger(logger))
          .then(() => {
            report({ t: 'stopped' });
            process.disconnect();
          });
        return;
    }
  });
  // The orchestrator going away must not leave a relay behind.
  process.on('disconnect', () => setTimeout(() => process.exit(0), 3000).unref());
  report({ t: 'ready', port: relay.port, publicKey: toBase64(key.publicKey) });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench relay failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
