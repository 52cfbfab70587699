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
  | {
      readonly t: 'mem';
      readonly rss: number;
      readonly heapUsed: number;
      readonly external: number;
      /** Bytes committed to V8's young generation (empty after the GC that precedes the reading). */
      readonly young: number;
    }
  | { readonly t: 'stopped' };

export type WorkerCommand =
  | {
      readonly t: 'pairs';
      readonly port: number;
      readonly relayKey: string;
      readonly pairs: number;
      readonly prefix: string;
      readonly e2e: E2eMode;
      /** Every connection from this address (default: rotated over 127.0.0.2-17). */
      readonly source?: string;
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
      /** Each client watches the presence of this many others (`presence.watch`, answered). */
      readonly watch: number;
    }
  /**
   * Makes `count` identities for the next `idle` clients, before the clock of their setup starts:
   * a client has its identity before it connects (answered `ready` with `connected: 0`).
   */
  | { readonly t: 'identities'; readonly count: number }
  | { readonly t: 'close' };

export type WorkerReport =
  | { readonly t: 'ready'; readonly connected: number; readonly ms: number; readonly firstError?: string }
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

/** The attacks of the issue 10 tests, run by bench/attack-worker.ts. */
export const ATTACKS = [
  'ping-flood',
  'ack-flood',
  'non-reader',
  'list-flood',
  'queue-fill',
  'prekey-drain',
  'registrations',
  'slowloris',
  'idle-sockets',
] as const;
export type AttackKind = (typeof ATTACKS)[number];

export interface AttackCommand {
  readonly t: 'attack';
  readonly kind: AttackKind;
  readonly port: number;
  readonly relayKey: string;
  /** Attacker names start with this. */
  readonly prefix: string;
  /** The honest user whose queue or prekeys are attacked. */
  readonly victim: string;
  readonly durationMs: number;
}

export type AttackReport =
  | {
      readonly t: 'attacked';
      readonly kind: AttackKind;
      readonly ms: number;
      readonly connections: number;
      readonly requests: number;
      readonly refused: number;
      readonly closedByRelay: number;
      readonly failed: number;
    }
  | { readonly t: 'failed'; readonly message: string };
