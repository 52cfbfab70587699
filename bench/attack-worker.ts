/**
 * The attacker of the bench (forked by bench/run.ts; never in the relay's process, never in the
 * honest user's). It runs, against a relay with its default limits, the attacks the issue 10
 * tests run, one at a time, from 127.0.0.64 and up (the honest user is elsewhere), while the
 * orchestrator measures the honest user's latency. Every attack is bounded by a deadline and by
 * a count of connections and requests.
 */
import * as net from 'node:net';
import { fromBase64, randomBytes, toHex } from '../lib/crypto/primitives';
import { encodeFrame } from '../lib/net/framing';
import { createIdentity } from '../lib/crypto/identity';
import { type Channel, connect, connectWithSocket, dialRelay, sleep } from './bench-client';
import type { AttackCommand, AttackKind, AttackReport } from './ipc';

/** Attacker source addresses: 127.0.0.64 .. 127.0.0.127. */
const ATTACK_ADDRESSES = Array.from({ length: 64 }, (_, i) => `127.0.0.${64 + i}`);
/** Bounds of any one attack, whatever its deadline. */
const MAX_CONNECTIONS = 5_000;
const MAX_REQUESTS = 2_000_000;
/** Sockets held open before login (defect 3: 1,100 against an fd limit of 1,024). */
const PRELOGIN_SOCKETS = 1_100;

function report(r: AttackReport): void {
  process.send?.(r);
}

interface Tally {
  connections: number;
  requests: number;
  refused: number;
  closedByRelay: number;
  failed: number;
}

let address = 0;
const nextAddress = () => ATTACK_ADDRESSES[address++ % ATTACK_ADDRESSES.length];

/**
 * One logged-in attacker connection at a time (reconnecting when closed), each running `burst`
 * every tick: request floods (defect 2, 6) and the reconnect-and-fetch of defect 5.
 */
async function loggedIn(
  cmd: AttackCommand,
  t: Tally,
  lanes: number,
  burst: (ch: Channel) => number,
  opts: { readOnly?: boolean; oneRequestPerConnection?: boolean } = {},
): Promise<void> {
  const deadline = performance.now() + cmd.durationMs;
  const ids = Array.from({ length: lanes }, () => createIdentity());
  const lane = async (k: number) => {
    while (performance.now() < deadline && t.connections < MAX_CONNECTIONS && t.requests < MAX_REQUESTS) {
      let ch: Channel;
      let socket: net.Socket;
      try {
        t.connections++;
        ({ channel: ch, socket } = await connectWithSocket({
          port: cmd.port,
          relayKey: fromBase64(cmd.relayKey, 32),
          name: `${cmd.prefix}${k}`,
          identity: ids[k],
          localAddress: ATTACK_ADDRESSES[k % ATTACK_ADDRESSES.length],
        }));
      } catch {
        t.failed++;
        await sleep(50);
        continue;
      }
      ch.on('message', (m) => {
        if (m.t === 'error') t.refused++;
      });
      ch.on('close', (r) => {
        if (r.code !== 'closed') t.closedByRelay++;
      });
      if (opts.readOnly) socket.pause();
      while (ch.isOpen && performance.now() < deadline && t.requests < MAX_REQUESTS) {
        t.requests += burst(ch);
        if (opts.oneRequestPerConnection) break;
        await new Promise((r) => setImmediate(r));
      }
      if (opts.oneRequestPerConnection) await sleep(5);
      ch.destroy({ code: 'closed', message: 'attack round over' });
    }
  };
  await Promise.all(Array.from({ length: lanes }, (_, k) => lane(k)));
}

/** Raw sockets before login, renewed as the relay closes them (defect 3) or stalled mid-frame. */
async function preLogin(cmd: AttackCommand, t: Tally, halfFrame: boolean, count: number): Promise<void> {
  const deadline = performance.now() + cmd.durationMs;
  const open = new Set<net.Socket>();
  const partial = encodeFrame(randomBytes(200)).subarray(0, 50);
  const openOne = async () => {
    if (t.connections >= MAX_CONNECTIONS || performance.now() >= deadline) return;
    t.connections++;
    let s: net.Socket;
    try {
      s = await dialRelay(cmd.port, nextAddress());
    } catch {
      t.failed++;
      return;
    }
    open.add(s);
    s.on('error', () => undefined);
    s.once('close', () => {
      open.delete(s);
      t.closedByRelay++;
      if (performance.now() < deadline) void sleep(20).then(openOne);
    });
    if (halfFrame) s.write(partial);
  };
  for (let i = 0; i < count; i++) {
    await openOne();
    if (i % 64 === 63) await sleep(1);
  }
  await sleep(deadline - performance.now());
  for (const s of open) s.destroy();
}

/** Fresh names, one connection each, as fast as the relay lets them in (defect 4). */
async function registrations(cmd: AttackCommand, t: Tally): Promise<void> {
  const deadline = performance.now() + cmd.durationMs;
  let n = 0;
  const lane = async () => {
    while (performance.now() < deadline && t.connections < MAX_CONNECTIONS) {
      t.connections++;
      try {
        const ch = await connect({
          port: cmd.port,
          relayKey: fromBase64(cmd.relayKey, 32),
          name: `${cmd.prefix}n${n++}`,
          identity: createIdentity(),
          localAddress: ATTACK_ADDRESSES[0],
        });
        ch.destroy({ code: 'closed', message: 'attack round over' });
      } catch {
        t.refused++;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
}

const id = () => toHex(randomBytes(16));
/** A 150-byte envelope (what the relay stores is opaque to it). */
const ENV = 'AAAA'.repeat(50);
/** Requests per burst of a flooding connection, between two turns of the event loop. */
const BURST = 200;

function repeat(send: () => void): number {
  for (let i = 0; i < BURST; i++) send();
  return BURST;
}

async function run(cmd: AttackCommand): Promise<void> {
  const t: Tally = { connections: 0, requests: 0, refused: 0, closedByRelay: 0, failed: 0 };
  const start = performance.now();
  const kind: AttackKind = cmd.kind;
  switch (kind) {
    case 'ping-flood':
      await loggedIn(cmd, t, 4, (ch) => repeat(() => ch.send({ t: 'ping', rid: 'a' })));
      break;
    case 'ack-flood':
      await loggedIn(cmd, t, 4, (ch) => repeat(() => ch.send({ t: 'ack', id: id() })));
      break;
    case 'non-reader':
      await loggedIn(cmd, t, 4, (ch) => repeat(() => ch.send({ t: 'ping', rid: 'a' })), { readOnly: true });
      break;
    case 'list-flood':
      await loggedIn(cmd, t, 4, (ch) => repeat(() => ch.send({ t: 'list', rid: 'l' })));
      break;
    case 'queue-fill':
      await loggedIn(cmd, t, 4, (ch) =>
        repeat(() => ch.send({ t: 'send', rid: 's', id: id(), to: cmd.victim, env: ENV })),
      );
      break;
    case 'prekey-drain':
      await loggedIn(
        cmd,
        t,
        8,
        (ch) => {
          ch.send({ t: 'keys.fetch', rid: 'k', user: cmd.victim });
          return 1;
        },
        { oneRequestPerConnection: true },
      );
      break;
    case 'registrations':
      await registrations(cmd, t);
      break;
    case 'slowloris':
      await preLogin(cmd, t, true, 300);
      break;
    case 'idle-sockets':
      await preLogin(cmd, t, false, PRELOGIN_SOCKETS);
      break;
  }
  report({ t: 'attacked', kind, ms: performance.now() - start, ...t });
}

process.on('message', (cmd: AttackCommand) => {
  run(cmd).catch((err: unknown) =>
    report({ t: 'failed', message: err instanceof Error ? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
