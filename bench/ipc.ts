/**
 * Messages between the bench orchestrator (bench/run.ts) and its child processes: the relay
 * process (bench/relay-process.ts) and the load workers (bench/load-worker.ts). Plain JSON over
 * the Node IPC channel of `child_process.fork`.
 */

/** How load clients encrypt the 100-byte texts end to end (see bench/README in results/). */
export type E2eMode = 'aead' | 'ratchet';

export type RelayCommand = { readonly t: 'mem' } | { readonly t: 'stop' };

export type RelayReport =
  | { readonly t: 'ready'; readonly port: number; readonly publicKey: string }
  | { readonly t: 'mem'; readonly rss: number; readonly heapUsed: number; readonly external: number }
  | { readonly t: 'stopped' };

export type WorkerCommand =
  | {
      readonly t: 'pairs';
      readonly port: number;
      readonly relayKey: string;
      readonly pairs: number;
      readonly prefix: string;
      readonly e2e: E2eMode;
    }
  | {
      readonly t: 'throughput';
      readonly warmupMs: number;
      readonly durationMs: number;
      readonly window: number;
    }
  | { readonly t: 'rate'; readonly perSecond: number; readonly warmupMs: number; readonly durationMs: number }
  | {
      readonly t: 'handshakes';
      readonly port: number;
      readonly relayKey: string;
      readonly prefix: string;
      readonly count: number;
      readonly concurrency: number;
      readonly maxMs: number;
    }
  | {
      readonly t: 'idle';
      readonly port: number;
      readonly relayKey: string;
      readonly prefix: string;
      readonly count: number;
      readonly concurrency: number;
      readonly maxMs: number;
    }
  | { readonly t: 'close' };

export type WorkerReport =
  | { readonly t: 'ready'; readonly connected: number; readonly ms: number }
  | {
      readonly t: 'throughput';
      readonly delivered: number;
      readonly ms: number;
      readonly errors: number;
    }
  | {
      readonly t: 'rate';
      readonly sent: number;
      readonly delivered: number;
      readonly ms: number;
      readonly errors: number;
      /** Send-to-decrypted latencies in ms, of the messages sent during the measured window. */
      readonly latencies: number[];
    }
  | {
      readonly t: 'handshakes';
      readonly done: number;
      readonly failed: number;
      readonly ms: number;
      readonly firstError?: string;
    }
  | { readonly t: 'closed' }
  | { readonly t: 'failed'; readonly message: string };
