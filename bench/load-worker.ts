/**
 * A load-generating process (forked by bench/run.ts, never inside the relay's process). Its
 * clients speak the real protocol: a TCP connection from one of several 127.0.0.x addresses, the
 * Noise XX handshake of PROTOCOL.md section 5 (lib/net/secure-channel.ts), login, then `send`,
 * `deliver` and `ack` (section 7). Texts are 100 bytes, encrypted end to end by the sender and
 * decrypted by the receiver (both ends of a pair live in this process, so one clock times them).
 *
 * Every loop is bounded by a count and by a deadline.
 */
import { createIdentity, type Identity, publicIdentity } from '../lib/crypto/identity';
import { encodeInnerMessage, parseInnerMessage } from '../lib/crypto/inner-message';
import { makeSignedPreKey, publicSignedPreKey, type SignedPreKey } from '../lib/crypto/prekeys';
import { aeadDecrypt, aeadEncrypt, fromBase64, randomBytes, toBase64 } from '../lib/crypto/primitives';
import type { Session } from '../lib/crypto/ratchet/session';
import { decryptEnvelope, encryptMessage, initiateSession } from '../lib/crypto/session-manager';
import type { RelayMessage } from '../lib/net/messages';
import { PING_INTERVAL_MS } from '../lib/net/secure-channel';
import { type Channel, connect as connectChannel, pool, sleep } from './bench-client';
import type { WorkerCommand, WorkerReport } from './ipc';

/** The text every load message carries: 100 bytes (issue 6). */
const TEXT_BYTES = 100;
/** Source addresses rotated per connection, so 50,000 sockets never exhaust one ephemeral range. */
const SOURCE_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`);
/** After a run stops sending, wait at most this long for what is in flight. */
const DRAIN_MS = 3_000;

const workerId = Number(process.env.BENCH_WORKER ?? '0');
let nextAddress = workerId;
let nextMsg = 0;
let relayKey: Uint8Array = new Uint8Array(32);

function report(r: WorkerReport): void {
  process.send?.(r);
}

/** 32 lowercase hex: this worker's number, then a counter (unique per run). */
function messageId(): string {
  return workerId.toString(16).padStart(8, '0') + (nextMsg++).toString(16).padStart(24, '0');
}

/** Connects from the next source address (or `source`), logs in and waits for `welcome`. */
function connect(port: number, name: string, identity: Identity, source?: string): Promise<Channel> {
  const localAddress = source ?? SOURCE_ADDRESSES[nextAddress++ % SOURCE_ADDRESSES.length];
  return connectChannel({ port, relayKey, name, identity, localAddress });
}

// ---------------------------------------------------------------------------------------------
// End-to-end encryption of the texts

interface E2e {
  seal(sentAt: number): string;
  /** The send time carried by the text, once decrypted and checked. */
  open(env: string): number;
}

/**
 * `aead`: one ChaChaPoly seal per text under a per-pair key with a counter nonce: the symmetric
 * core of a ratchet step, without the ratchet's bookkeeping (~85 µs a side in this code base).
 */
function aeadPair(): E2e {
  const key = randomBytes(32);
  const ad = new Uint8Array(0);
  let counter = 0;
  const nonceOf = (n: number) => {
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setBigUint64(4, BigInt(n), true);
    return nonce;
  };
  return {
    seal(sentAt) {
      const text = new Uint8Array(TEXT_BYTES).fill(0x78);
      new DataView(text.buffer).setFloat64(0, sentAt);
      const n = counter++;
      const ct = aeadEncrypt('ChaChaPoly', key, nonceOf(n), ad, text);
      const env = new Uint8Array(8 + ct.length);
      new DataView(env.buffer).setFloat64(0, n);
      env.set(ct, 8);
      return toBase64(env);
    },
    open(envText) {
      const env = fromBase64(envText);
      const n = new DataView(env.buffer, env.byteOffset).getFloat64(0);
      const text = aeadDecrypt('ChaChaPoly', key, nonceOf(n), ad, env.subarray(8));
      if (text.length !== TEXT_BYTES) throw new Error('bad text');
      return new DataView(text.buffer, text.byteOffset).getFloat64(0);
    },
  };
}

/** `ratchet`: the real Double Ratchet session API (X3DH from a locally made bundle). */
function ratchetPair(sender: Identity, receiver: Identity, senderName: string, receiverName: string): E2e {
  const spk: SignedPreKey = makeSignedPreKey(receiver, 1, Date.now());
  let { session: out } = initiateSession({
    ours: { identity: sender, name: senderName },
    theirName: receiverName,
    bundle: { identity: publicIdentity(receiver), spk: publicSignedPreKey(spk) },
  });
  let inbound: Session[] = [];
  const prekeys = {
    signedPreKey: (id: number) => (id === 1 ? spk.keyPair : undefined),
    oneTimePreKey: () => undefined,
  };
  return {
    seal(sentAt) {
      const body = `${sentAt.toFixed(3)}|`.padEnd(TEXT_BYTES, 'x');
      const r = encryptMessage(
        out,
        encodeInnerMessage({ kind: 'text', id: messageId(), ts: Date.now(), body }),
      );
      out = r.session;
      return toBase64(r.envelopeBytes);
    },
    open(env) {
      const r = decryptEnvelope({
        ours: { identity: receiver, name: receiverName },
        fromName: senderName,
        envelopeBytes: fromBase64(env),
        sessions: inbound,
        prekeys,
        now: Date.now(),
      });
      inbound = [r.session];
      const m = parseInnerMessage(r.plaintext);
      if (m.kind !== 'text' || m.body.length !== TEXT_BYTES) throw new Error('bad text');
      return Number(m.body.slice(0, m.body.indexOf('|')));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Pairs: a sender and a receiver, both logged in

interface Pair {
  readonly senderName: string;
  readonly receiverName: string;
  readonly sender: Channel;
  readonly receiver: Channel;
  readonly e2e: E2e;
  outstanding: number;
}

let pairs: Pair[] = [];
let idle: Channel[] = [];
/** Identities made ahead by `identities`, taken by the next idle clients. */
let spare: Identity[] = [];
let rid = 0;

/** What the current run does with each decrypted text and each error. */
let onDecrypted: (p: Pair, sentAt: number) => void = () => undefined;
let errors = 0;

/** Sends one text; returns the send time it carries (what the receiver's latency counts from). */
function send(p: Pair): number {
  p.outstanding++;
  const sentAt = performance.now();
  p.sender.send({
    t: 'send',
    rid: `r${++rid}`,
    id: messageId(),
    to: p.receiverName,
    env: p.e2e.seal(sentAt),
  });
  return sentAt;
}

async function makePairs(cmd: Extract<WorkerCommand, { t: 'pairs' }>): Promise<void> {
  const start = performance.now();
  const made = await pool(cmd.pairs, 32, start + 120_000, async (i) => {
    const a = createIdentity();
    const b = createIdentity();
    const senderName = `${cmd.prefix}s${i}`;
    const receiverName = `${cmd.prefix}r${i}`;
    const receiver = await connect(cmd.port, receiverName, b, cmd.source);
    const sender = await connect(cmd.port, senderName, a, cmd.source);
    const e2e = cmd.e2e === 'ratchet' ? ratchetPair(a, b, senderName, receiverName) : aeadPair();
    const p: Pair = { senderName, receiverName, sender, receiver, e2e, outstanding: 0 };
    sender.on('message', (m) => {
      if (m.t === 'error') errors++;
    });
    receiver.on('message', (m) => {
      if (m.t !== 'deliver') return;
      receiver.send({ t: 'ack', id: m.id });
      if (m.from !== senderName) return;
      let sentAt: number;
      try {
        sentAt = e2e.open(m.env);
      } catch {
        errors++;
        return;
      }
      p.outstanding--;
      onDecrypted(p, sentAt);
    });
    pairs.push(p);
  });
  if (made.failed > 0) throw new Error(`${made.failed} pairs failed: ${made.firstError}`);
  report({ t: 'ready', connected: made.done * 2, ms: performance.now() - start });
}

/** Closed loop: each sender keeps `window` texts in flight; counts texts decrypted in the window. */
async function throughput(cmd: Extract<WorkerCommand, { t: 'throughput' }>): Promise<void> {
  errors = 0;
  const start = performance.now();
  const from = start + cmd.warmupMs;
  const until = from + cmd.durationMs;
  let delivered = 0;
  let sending = true;
  onDecrypted = (p) => {
    const now = performance.now();
    if (now >= from && now < until) delivered++;
    if (sending) send(p);
  };
  for (const p of pairs) for (let i = 0; i < cmd.window; i++) send(p);
  await sleep(until - performance.now());
  sending = false;
  await drain();
  report({ t: 'throughput', delivered, ms: cmd.durationMs, errors });
}

/** Open loop at a fixed rate, round-robin over the senders; latency of every text in the window. */
async function rate(cmd: Extract<WorkerCommand, { t: 'rate' }>): Promise<void> {
  errors = 0;
  const latencies: number[] = [];
  const start = performance.now();
  const from = start + cmd.warmupMs;
  const until = from + cmd.durationMs;
  let delivered = 0;
  let sent = 0;
  let sentInWindow = 0;
  onDecrypted = (_p, sentAt) => {
    if (sentAt >= from && sentAt < until) {
      latencies.push(performance.now() - sentAt);
      delivered++;
    }
  };
  let at = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      if (now >= until) {
        clearInterval(timer);
        resolve();
        return;
      }
      const target = Math.floor(((now - start) * cmd.perSecond) / 1000);
      // Bounded catch-up: never more than 100 ms worth in one tick.
      const due = Math.min(target - sent, Math.ceil(cmd.perSecond / 10));
      for (let i = 0; i < due; i++) {
        const p = pairs[at++ % pairs.length];
        sent++;
        // Counted in the window by the time the text carries, as on delivery: a burst that starts
        // before `until` stamps its last texts after it, and those are neither sent nor delivered
        // in the window (counted by the tick's time, they showed as "lost").
        const sentAt = send(p);
        if (sentAt >= from && sentAt < until) sentInWindow++;
      }
    };
    const timer = setInterval(tick, 1);
  });
  await drain();
  report({ t: 'rate', sent: sentInWindow, delivered, ms: cmd.durationMs, errors, latencies });
}

async function drain(): Promise<void> {
  const end = performance.now() + DRAIN_MS;
  while (performance.now() < end && pairs.some((p) => p.outstanding > 0)) await sleep(20);
  onDecrypted = () => undefined;
  for (const p of pairs) p.outstanding = 0;
}

async function handshakes(cmd: Extract<WorkerCommand, { t: 'handshakes' }>): Promise<void> {
  // A pool of identities used in turn: the first login registers (one SQLite write), later ones
  // log in again. Never two connections with one identity at once (that would be a replacement).
  const ids = Array.from({ length: cmd.concurrency }, () => createIdentity());
  const start = performance.now();
  const r = await pool(cmd.count, cmd.concurrency, start + cmd.maxMs, async (_i, lane) => {
    const ch = await connect(cmd.port, `${cmd.prefix}h${lane}`, ids[lane]);
    ch.destroy({ code: 'closed', message: 'bench done' });
  });
  report({
    t: 'handshakes',
    done: r.done,
    failed: r.failed,
    ms: performance.now() - start,
    firstError: r.firstError,
  });
}

/** Idle clients send a ping this often, as the real client does (PING_INTERVAL_MS). */
const KEEPALIVE_MS = PING_INTERVAL_MS;
let keepalive: NodeJS.Timeout | undefined;

/**
 * Idle clients as the real client leaves them: logged in, watching the presence of `watch`
 * others (names of this run, some online, some not yet), and pinging every KEEPALIVE_MS.
 */
async function idleConnections(cmd: Extract<WorkerCommand, { t: 'idle' }>): Promise<void> {
  const start = performance.now();
  const nameOf = (i: number) => `${cmd.prefix}${i.toString(36)}`;
  const r = await pool(cmd.count, cmd.concurrency, start + cmd.maxMs, async (i) => {
    const ch = await connect(cmd.port, nameOf(i), spare.pop() ?? createIdentity());
    idle.push(ch);
    if (cmd.watch <= 0) return;
    const users = Array.from({ length: cmd.watch }, (_, k) => nameOf((i + 1 + k * 7) % cmd.count));
    const watchRid = `w${++rid}`;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to presence.watch')), 30_000);
      const onMessage = (m: RelayMessage) => {
        if ((m.t === 'presence.batch' || m.t === 'error') && m.rid === watchRid) {
          clearTimeout(timer);
          ch.off('message', onMessage);
          if (m.t === 'error') reject(new Error(`presence.watch refused: ${m.code}`));
          else resolve();
        }
      };
      ch.on('message', onMessage);
      ch.send({ t: 'presence.watch', rid: watchRid, users });
    });
  });
  keepalive ??= setInterval(() => {
    for (const c of idle) if (c.isOpen) c.send({ t: 'ping', rid: `k${++rid}` });
  }, KEEPALIVE_MS);
  report({ t: 'ready', connected: r.done, ms: performance.now() - start, firstError: r.firstError });
}

async function closeAll(): Promise<void> {
  for (const p of pairs) {
    p.sender.destroy({ code: 'closed', message: 'bench done' });
    p.receiver.destroy({ code: 'closed', message: 'bench done' });
  }
  for (const c of idle) c.destroy({ code: 'closed', message: 'bench done' });
  pairs = [];
  idle = [];
  spare = [];
  if (keepalive) clearInterval(keepalive);
  keepalive = undefined;
  report({ t: 'closed' });
}

process.on('message', (cmd: WorkerCommand) => {
  const run = async () => {
    switch (cmd.t) {
      case 'pairs':
        relayKey = fromBase64(cmd.relayKey, 32);
        return makePairs(cmd);
      case 'throughput':
        return throughput(cmd);
      case 'rate':
        return rate(cmd);
      case 'handshakes':
        relayKey = fromBase64(cmd.relayKey, 32);
        return handshakes(cmd);
      case 'idle':
        relayKey = fromBase64(cmd.relayKey, 32);
        return idleConnections(cmd);
      case 'identities': {
        const start = performance.now();
        for (let i = 0; i < cmd.count; i++) spare.push(createIdentity());
        return report({ t: 'ready', connected: 0, ms: performance.now() - start });
      }
      case 'close':
        return closeAll();
    }
  };
  run().catch((err: unknown) =>
    report({ t: 'failed', message: err instanceof Error ? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
