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
 * - The same through real clients (lib/client/client.ts, each with its own SQLite store, all 101 in
 *   this process) and the same relay process: the admin creates the group of 100 with
 *   `createGroup` (state and sender keys go pairwise), then `sendGroup` per message. Measured: the
 *   sender's CPU inside `sendGroup` (seal once, one transaction) against 100 `send`s of the same
 *   text (100 pairwise seals, 100 transactions); until the relay has answered all 100 copies (the
 *   `sent` receipt event); and until all 100 receivers' clients have stored it and emitted
 *   `message` (p50, p99). The receivers share this process's one thread, so the last figure also
 *   counts 100 SQLite commits done one after another.
 *
 *   npm run bench -- --only groups          (npm run bench -- --only groups --quick: fewer messages)
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createIdentity, publicIdentity, type Identity } from '../lib/crypto/identity';
import { encodeInnerMessage } from '../lib/crypto/inner-message';
import { makeSignedPreKey, publicSignedPreKey } from '../lib/crypto/prekeys';
import { randomBytes, toBase64, toHex } from '../lib/crypto/primitives';
import type { Session } from '../lib/crypto/ratchet/session';
import { createOwnSenderKey, sealGroupMessage, type OwnSenderKey } from '../lib/crypto/sender-keys';
import { encryptMessage, initiateSession } from '../lib/crypto/session-manager';
import { parseRelayMessage, type ClientMessage, type RelayMessage } from '../lib/net/messages';
import { connectSecureChannel, type SecureChannel } from '../lib/net/secure-channel';
import { Client } from '../lib/client/client';
import { KnownServers } from '../lib/client/known-servers';
import { openClientStore } from '../lib/client/sqlite-store';
import type { ClientStore } from '../lib/client/store';
import { closeLogger, createLogger, type Logger } from '../lib/log';
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
  /** The same through 101 real clients (lib/client). */
  readonly clients: ClientGroupFigures;
}

export interface ClientGroupFigures {
  readonly messages: number;
  /** Sender CPU inside one `sendGroup`, ms (user + system). */
  readonly sendGroupCpuMs: number;
  /** Sender CPU for 100 pairwise `send`s of the same text, ms. */
  readonly pairwiseSendsCpuMs: number;
  /** From `sendGroup` until the relay answered every copy, ms. */
  readonly fanoutP50Ms: number;
  readonly fanoutP99Ms: number;
  /** From `sendGroup` until all 100 receiving clients stored it, ms. */
  readonly allReceivedP50Ms: number;
  readonly allReceivedP99Ms: number;
  /** From `createGroup` until all 100 had joined and held the sender's key (the first message read), ms. */
  readonly setupMs: number;
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

  const alice = createIdentity();
  let sessions: Session[] = Array.from({ length: RECEIVERS }, (_, i) => {
    const bob = createIdentity();
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
    const sender = await connect(ready.port, 'gsender', createIdentity());
    channels.push(sender);
    const receivers: Channel[] = [];
    for (let i = 0; i < RECEIVERS; i += 20) {
      receivers.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(20, RECEIVERS - i) }, (_, j) =>
            connect(ready.port, `gr${i + j}`, createIdentity()),
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

interface BenchClient {
  readonly client: Client;
  readonly store: ClientStore;
  readonly logger: Logger;
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

function until(pred: () => boolean, what: string, timeoutMs = 300_000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (pred()) resolve();
      else if (Date.now() - start > timeoutMs) reject(new Error(`bench: timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

async function clientFanout(messages: number): Promise<ClientGroupFigures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-bench-gclients-'));
  const relay = fork(path.join(__dirname, 'relay-process.js'), [dir], { stdio: 'inherit' });
  const ready = await new Promise<RelayReport>((resolve) =>
    relay.once('message', (m: RelayReport) => resolve(m)),
  );
  if (ready.t !== 'ready') throw new Error('the bench relay did not start');
  const all: BenchClient[] = [];
  try {
    for (let i = 0; i <= RECEIVERS; i++) {
      const d = path.join(dir, `c${i}`);
      fs.mkdirSync(d, { mode: 0o700 });
      const store = openClientStore(d);
      const logger = createLogger({ file: path.join(d, 'client.log'), name: `c${i}`, level: 'warn' });
      const knownServersFile = path.join(d, 'known_servers');
      const client = new Client({
        name: i === 0 ? 'gadmin' : `gm${i}`,
        host: '127.0.0.1',
        port: ready.port,
        identity: createIdentity(),
        store,
        knownServers: new KnownServers(knownServersFile),
        knownServersFile,
        logger,
        acceptNewServer: true,
      });
      client.start();
      all.push({ client, store, logger });
      if (i % 20 === 0) await until(() => all.every((c) => c.client.connection.state === 'online'), 'logins');
    }
    await until(() => all.every((c) => c.client.connection.state === 'online'), 'logins');
    const [admin, ...receivers] = all;
    const got = new Map<string, number>();
    for (const r of receivers) r.client.on('message', (m) => got.set(m.id, (got.get(m.id) ?? 0) + 1));
    const setupStart = performance.now();
    const g = admin.client.createGroup(
      'bench',
      receivers.map((r) => r.client.name),
    );
    const first = admin.client.sendGroup(g.key, 'warm up');
    await until(() => got.get(first.id) === RECEIVERS, 'the first group message');
    const setupMs = performance.now() - setupStart;

    const body = 'x'.repeat(100);
    const cpu: number[] = [];
    const fanout: number[] = [];
    const received: number[] = [];
    for (let n = 0; n < messages; n++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const m = admin.client.sendGroup(g.key, body);
      cpu.push(cpuMs(c0));
      let answered = 0;
      const onReceipt = (e: { peer: string; ids: readonly string[] }) => {
        if (e.ids.includes(m.id) && answered === 0) answered = performance.now() - t0;
      };
      admin.client.on('receipt', onReceipt);
      await until(() => got.get(m.id) === RECEIVERS && answered > 0, `message ${n}`);
      admin.client.off('receipt', onReceipt);
      fanout.push(answered);
      received.push(performance.now() - t0);
    }
    // The same text to each of the 100 pairwise (the sessions exist since the group was made).
    const c0 = process.cpuUsage();
    const ids = receivers.map((r) => admin.client.send(r.client.name, body).id);
    const pairwise = cpuMs(c0);
    await until(() => ids.every((id) => got.get(id) === 1), 'the pairwise texts');
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const round = (x: number) => Math.round(x * 100) / 100;
    return {
      messages,
      sendGroupCpuMs: round(percentile(sorted(cpu), 50)),
      pairwiseSendsCpuMs: round(pairwise),
      fanoutP50Ms: round(percentile(sorted(fanout), 50)),
      fanoutP99Ms: round(percentile(sorted(fanout), 99)),
      allReceivedP50Ms: round(percentile(sorted(received), 50)),
      allReceivedP99Ms: round(percentile(sorted(received), 99)),
      setupMs: Math.round(setupMs),
    };
  } finally {
    for (const c of all) {
      await c.client.close();
      c.store.close();
      await closeLogger(c.logger);
    }
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
  const clients = await clientFanout(quick ? 10 : 50);
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
    clients,
  };
}
