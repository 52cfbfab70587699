/**
 * Group figures (issue 16): one message to a group of 100 receivers.
 *
 * - Sender CPU: one sender-key seal (AEAD + Ed25519 signature, lib/crypto/sender-keys.ts) against
 *   100 pairwise Double Ratchet encrypts of the same inner message (lib/crypto/session-manager.ts).
 * - Relay fan-out: a real relay in its own process (bench/relay-process.ts, SQLite store); 101
 *   clients on loopback; one `send.multi` to the 100 others at a time. Measured per message: until
 *   the sender has all 100 `sent` answers (every copy stored), and until all 100 receivers have
 *   their `deliver` (each acks it at once). p50 and p99 over the messages.
 *
 *   npm run bench -- --only groups          (npm run bench -- --only groups --quick: fewer messages)
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { publicIdentity, type Identity } from '../lib/crypto/identity';
import { encodeInnerMessage } from '../lib/crypto/inner-message';
import { makeSignedPreKey, publicSignedPreKey } from '../lib/crypto/prekeys';
import { randomBytes, toBase64, toHex } from '../lib/crypto/primitives';
import type { Session } from '../lib/crypto/ratchet/session';
import { createOwnSenderKey, sealGroupMessage, type OwnSenderKey } from '../lib/crypto/sender-keys';
import { encryptMessage, initiateSession } from '../lib/crypto/session-manager';
import { parseRelayMessage, type ClientMessage, type RelayMessage } from '../lib/net/messages';
import { connectSecureChannel, type SecureChannel } from '../lib/net/secure-channel';
import { benchIdentity } from './bench-identity';
import type { RelayReport } from './ipc';
import { percentile } from './stats';

const RECEIVERS = 100;

export interface GroupFigures {
  readonly receivers: number;
  readonly textBytes: number;
  /** Sender CPU per message, ms. */
  readonly senderKeySealMs: number;
  readonly pairwiseEncryptsMs: number;
  readonly messages: number;
  /** From send.multi to the 100th `sent` (every copy stored), ms. */
  readonly fanoutP50Ms: number;
  readonly fanoutP99Ms: number;
  /** From send.multi until all 100 receivers have the envelope, ms. */
  readonly allReceivedP50Ms: number;
  readonly allReceivedP99Ms: number;
}

function inner(n: number): Uint8Array {
  return encodeInnerMessage({
    kind: 'text',
    id: n.toString(16).padStart(32, '0'),
    ts: 1,
    body: 'x'.repeat(100),
  });
}

async function senderCpu(rounds: number): Promise<{ seal: number; pairwise: number }> {
  let own: OwnSenderKey = createOwnSenderKey(randomBytes(16), randomBytes);
  const sealStart = performance.now();
  for (let i = 0; i < rounds * 10; i++) {
    own = (await sealGroupMessage(own, inner(i), () => undefined)).own;
  }
  const seal = (performance.now() - sealStart) / (rounds * 10);

  const alice = benchIdentity();
  let sessions: Session[] = Array.from({ length: RECEIVERS }, (_, i) => {
    const bob = benchIdentity();
    const spk = makeSignedPreKey(bob, 1, Date.now());
    return initiateSession({
      ours: { identity: alice, name: 'alice' },
      theirName: `bob${i}`,
      bundle: { identity: publicIdentity(bob), spk: publicSignedPreKey(spk) },
    }).session;
  });
  const pairStart = performance.now();
  for (let r = 0; r < rounds; r++) {
    const pt = inner(r);
    sessions = sessions.map((s) => encryptMessage(s, pt).session);
  }
  return { seal, pairwise: (performance.now() - pairStart) / rounds };
}

type Channel = SecureChannel<RelayMessage, ClientMessage>;

async function connect(port: number, name: string, identity: Identity): Promise<Channel> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
  const { channel } = await connectSecureChannel<RelayMessage, ClientMessage>(socket, {
    staticKey: identity.dhKey,
    verifyServer: () => undefined,
    login: { user: name, signKey: toBase64(identity.signKey.publicKey), idcert: toBase64(identity.idcert) },
    parse: parseRelayMessage,
  });
  const welcomed = new Promise<void>((resolve) => {
    const on = (m: RelayMessage) => {
      if (m.t !== 'welcome') return;
      channel.off('message', on);
      resolve();
    };
    channel.on('message', on);
  });
  channel.start();
  await welcomed;
  return channel;
}

async function fanout(messages: number): Promise<{ stored: number[]; received: number[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-bench-groups-'));
  const relay = fork(path.join(__dirname, 'relay-process.js'), [dir], {
    execArgv: ['--expose-gc'],
    stdio: 'inherit',
  });
  const ready = await new Promise<RelayReport>((resolve) =>
    relay.once('message', (m: RelayReport) => resolve(m)),
  );
  if (ready.t !== 'ready') throw new Error('the bench relay did not start');
  const channels: Channel[] = [];
  try {
    const sender = await connect(ready.port, 'gsender', benchIdentity());
    channels.push(sender);
    const receivers: Channel[] = [];
    for (let i = 0; i < RECEIVERS; i += 20) {
      receivers.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(20, RECEIVERS - i) }, (_, j) =>
            connect(ready.port, `gr${i + j}`, benchIdentity()),
          ),
        )),
      );
    }
    channels.push(...receivers);
    const to = receivers.map((_, i) => ({ user: `gr${i}` }));
    const stored: number[] = [];
    const received: number[] = [];
    let own = createOwnSenderKey(randomBytes(16), randomBytes);
    for (let n = 0; n < messages; n++) {
      const sealed = await sealGroupMessage(own, inner(n), () => undefined);
      own = sealed.own;
      const id = toHex(randomBytes(16));
      const rid = `g${n}`;
      const t0 = performance.now();
      const allSent = new Promise<void>((resolve, reject) => {
        let left = RECEIVERS;
        const on = (m: RelayMessage) => {
          if (m.t === 'error' && m.rid === rid) reject(new Error(`send.multi refused: ${m.code}`));
          if (m.t !== 'sent' || m.rid !== rid) return;
          if (--left === 0) {
            sender.off('message', on);
            stored.push(performance.now() - t0);
            resolve();
          }
        };
        sender.on('message', on);
      });
      const allGot = Promise.all(
        receivers.map(
          (r) =>
            new Promise<void>((resolve) => {
              const on = (m: RelayMessage) => {
                if (m.t !== 'deliver' || m.id !== id) return;
                r.off('message', on);
                r.send({ t: 'ack', id });
                resolve();
              };
              r.on('message', on);
            }),
        ),
      ).then(() => received.push(performance.now() - t0));
      sender.send({ t: 'send.multi', rid, id, to, env: toBase64(sealed.message) });
      await Promise.all([allSent, allGot]);
    }
    return { stored, received };
  } finally {
    for (const c of channels) c.close();
    relay.send({ t: 'stop' });
    await new Promise<void>((resolve) => relay.once('exit', () => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function groupBench(quick: boolean): Promise<GroupFigures> {
  const cpu = await senderCpu(quick ? 5 : 20);
  const messages = quick ? 30 : 200;
  const { stored, received } = await fanout(messages);
  const s = [...stored].sort((a, b) => a - b);
  const r = [...received].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    receivers: RECEIVERS,
    textBytes: 100,
    senderKeySealMs: round(cpu.seal),
    pairwiseEncryptsMs: round(cpu.pairwise),
    messages,
    fanoutP50Ms: round(percentile(s, 50)),
    fanoutP99Ms: round(percentile(s, 99)),
    allReceivedP50Ms: round(percentile(r, 50)),
    allReceivedP99Ms: round(percentile(r, 99)),
  };
}
