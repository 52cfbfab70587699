/**
 * `npm run bench` (issue 13): what the encrypted client store costs. The real store
 * (lib/client/sqlite-store.ts) in a temp folder, plain and encrypted (SQLite3MultipleCiphers,
 * SQLCipher 4 scheme), measured in alternating rounds so both see the same machine load:
 *
 * - store: one received message as the client commits it, one transaction holding the ratchet
 *   step (a ~2 KiB session state) and the message; WAL with synchronous = FULL, so each one
 *   waits for an fsync;
 * - load: open the store (header, integrity check) and read one conversation's history back.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openClientStore } from '../lib/client/sqlite-store';
import type { ClientStore } from '../lib/client/store';
import { randomBytes, toBase64, toHex } from '../lib/crypto/primitives';
import { percentile } from './stats';

export interface StorageRow {
  readonly encrypted: boolean;
  /** Milliseconds per single-message transaction. */
  readonly storeP50Ms: number;
  readonly storeP99Ms: number;
  /** Milliseconds to open the store and read `loadMessages` messages back (median of the rounds). */
  readonly loadMs: number;
}

export interface StorageResult {
  readonly transactions: number;
  readonly loadMessages: number;
  readonly rows: readonly StorageRow[];
  /** Encrypted over plain, in per cent: store p50 and load. */
  readonly storeOverheadPct: number;
  readonly loadOverheadPct: number;
}

const PEER = 'bob';
const SESSION_ID = 's1';

function message(i: number, body: string) {
  return {
    id: toHex(randomBytes(16)),
    peer: PEER,
    peerName: 'Bob',
    direction: 'in' as const,
    body: `${body} ${i}`,
    ts: i,
    localTs: i,
    state: 'received' as const,
  };
}

/** One received message: the ratchet step and the message, committed together. */
function receiveOne(store: ClientStore, i: number, state: string, body: string): void {
  store.transaction(() => {
    store.saveSession(PEER, SESSION_ID, state, i);
    store.addMessage(message(i, body));
  });
}

function timeStores(
  dir: string,
  key: Uint8Array | undefined,
  n: number,
  state: string,
  body: string,
): number[] {
  const store = openClientStore(dir, { key });
  const times: number[] = [];
  try {
    const base = store.history(PEER, 1).length > 0 ? 1e9 : 0;
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      receiveOne(store, base + i, state, body);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  } finally {
    store.close();
  }
  return times;
}

function timeLoad(dir: string, key: Uint8Array | undefined, messages: number): number {
  const t0 = process.hrtime.bigint();
  const store = openClientStore(dir, { key });
  const got = store.history(PEER, messages).length;
  store.close();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (got < messages) throw new Error(`the load read ${got} of ${messages} messages`);
  return ms;
}

function median(xs: readonly number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
}

export function storageBench(quick: boolean): StorageResult {
  const rounds = quick ? 3 : 5;
  const perRound = quick ? 100 : 300;
  const loadMessages = quick ? 2000 : 10000;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-bench-storage-'));
  const state = JSON.stringify({ v: 1, ratchet: toBase64(randomBytes(1500)) });
  const body = 'a message of about the length people type in a chat, with some words in it';
  const kinds = [
    { encrypted: false, key: undefined, dir: path.join(root, 'plain') },
    { encrypted: true, key: randomBytes(32), dir: path.join(root, 'encrypted') },
  ];
  try {
    // The load databases: filled once (not timed), in large transactions.
    for (const k of kinds) {
      const s = openClientStore(`${k.dir}-load`, { key: k.key });
      s.transaction(() => {
        for (let i = 0; i < loadMessages; i++) s.addMessage(message(i, body));
      });
      s.close();
    }
    const stores = new Map<boolean, number[]>(kinds.map((k) => [k.encrypted, []]));
    const loads = new Map<boolean, number[]>(kinds.map((k) => [k.encrypted, []]));
    for (let r = 0; r < rounds; r++) {
      // Alternating order, so neither kind always runs on a warmer cache.
      for (const k of r % 2 === 0 ? kinds : [...kinds].reverse()) {
        stores.get(k.encrypted)!.push(...timeStores(k.dir, k.key, perRound, state, body));
        loads.get(k.encrypted)!.push(timeLoad(`${k.dir}-load`, k.key, loadMessages));
      }
    }
    const rows = kinds.map((k) => {
      const t = [...stores.get(k.encrypted)!].sort((a, b) => a - b);
      return {
        encrypted: k.encrypted,
        storeP50Ms: percentile(t, 50),
        storeP99Ms: percentile(t, 99),
        loadMs: median(loads.get(k.encrypted)!),
      };
    });
    const [plain, enc] = rows;
    return {
      transactions: rounds * perRound,
      loadMessages,
      rows,
      storeOverheadPct: (enc.storeP50Ms / plain.storeP50Ms - 1) * 100,
      loadOverheadPct: (enc.loadMs / plain.loadMs - 1) * 100,
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
