/**
 * What every bench process that plays clients shares (bench/load-worker.ts, bench/attack-worker.ts):
 * a logged-in secure channel over a real TCP connection from a chosen 127.0.0.x address, a
 * bounded task pool and a sleep. Every wait is bounded by a deadline.
 */
import * as net from 'node:net';
import type { Identity } from '../lib/crypto/identity';
import { constantTimeEqual, toBase64 } from '../lib/crypto/primitives';
import { parseRelayMessage, type ClientMessage, type RelayMessage } from '../lib/net/messages';
import { connectSecureChannel, type SecureChannel } from '../lib/net/secure-channel';

export type Channel = SecureChannel<RelayMessage, ClientMessage>;

/** A handshake that takes longer than this is a failure, not a slow success. */
export const CONNECT_TIMEOUT_MS = 30_000;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** A TCP connection to the bench relay from `localAddress`, within CONNECT_TIMEOUT_MS. */
export function dialRelay(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress, noDelay: true }, () => {
      s.off('error', reject);
      s.setTimeout(0);
      resolve(s);
    });
    s.once('error', reject);
    s.setTimeout(CONNECT_TIMEOUT_MS, () => s.destroy(new Error('connect timeout')));
  });
}

export interface ConnectOptions {
  readonly port: number;
  readonly relayKey: Uint8Array;
  readonly name: string;
  readonly identity: Identity;
  readonly localAddress: string;
}

/** Connects, runs the handshake and waits for `welcome`; the channel is started. */
export async function connect(o: ConnectOptions): Promise<Channel> {
  return (await connectWithSocket(o)).channel;
}

/** `connect`, also giving the TCP socket (an attacker that stops reading pauses it). */
export async function connectWithSocket(
  o: ConnectOptions,
): Promise<{ channel: Channel; socket: net.Socket }> {
  const socket = await dialRelay(o.port, o.localAddress);
  const { channel } = await connectSecureChannel<RelayMessage, ClientMessage>(socket, {
    staticKey: o.identity.dhKey,
    verifyServer: (rs) => {
      if (!constantTimeEqual(rs, o.relayKey)) throw new Error('not the bench relay');
    },
    login: {
      user: o.name,
      signKey: toBase64(o.identity.signKey.publicKey),
      idcert: toBase64(o.identity.idcert),
    },
    parse: parseRelayMessage,
    idleTimeoutMs: Infinity,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no welcome')), CONNECT_TIMEOUT_MS);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      channel.off('message', onMessage);
      channel.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onMessage = (m: RelayMessage) => {
      if (m.t === 'welcome') finish();
      else if (m.t === 'error') finish(new Error(`login refused: ${m.code}`));
    };
    const onClose = (r: { code: string }) => finish(new Error(`closed during login: ${r.code}`));
    channel.on('message', onMessage);
    channel.on('close', onClose);
    channel.start();
  });
  return { channel, socket };
}

/** Runs `task(i)` for i < count with at most `concurrency` at once, until `deadline`. */
export async function pool(
  count: number,
  concurrency: number,
  deadline: number,
  task: (i: number, lane: number) => Promise<void>,
): Promise<{ done: number; failed: number; firstError?: string }> {
  let next = 0;
  let done = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lane = async (laneNo: number) => {
    while (next < count && performance.now() < deadline) {
      const i = next++;
      try {
        await task(i, laneNo);
        done++;
      } catch (err) {
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, (_, n) => lane(n)));
  return { done, failed, firstError };
}
