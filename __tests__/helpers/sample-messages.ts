/** Valid samples of every message of PROTOCOL.md section 7 (and presence.batch), for tests and fuzzing. */
import { ed25519KeyPair, randomBytes, toBase64, toHex, x25519KeyPair } from '../../lib/crypto/primitives';
import type { ClientMessage, RelayMessage } from '../../lib/net/messages';

export const xpub = (): string => toBase64(x25519KeyPair().publicKey);
export const edpub = toBase64(ed25519KeyPair().publicKey);
export const sig = toBase64(randomBytes(64));
export const msgId = toHex(randomBytes(16));
export const env = toBase64(randomBytes(300));
export const spk = { id: 7, pub: xpub(), sig };

export const CLIENT: ClientMessage[] = [
  { t: 'list', rid: 'r1' },
  {
    t: 'keys.publish',
    rid: 'r-2',
    spk,
    opks: [
      { id: 1, pub: xpub() },
      { id: 0xffffffff, pub: xpub() },
    ],
  },
  { t: 'keys.publish', rid: 'r_3', spk, opks: [] },
  { t: 'keys.fetch', rid: 'r4', user: 'Eve' },
  { t: 'send', rid: 'r5', id: msgId, to: 'eve.s-mith_2', env },
  { t: 'send', rid: 'r5', id: msgId, to: 'Eve', env, for: edpub },
  { t: 'send.multi', rid: 'r6', id: msgId, to: [{ user: 'Eve' }, { user: 'Bob', for: edpub }], env },
  { t: 'presence.watch', rid: 'w1', users: ['Eve', 'Bob'] },
  { t: 'presence.unwatch', rid: 'w2', users: ['Eve'] },
  { t: 'ack', id: msgId },
  { t: 'ping', rid: 'p' },
  { t: 'pong', rid: 'p' },
];

export const RELAY: RelayMessage[] = [
  { t: 'welcome', users: ['Adam', 'Eve'], queued: 3 },
  { t: 'welcome', users: [], queued: 0 },
  { t: 'welcome', queued: 0, limits: { requestsPerSecond: 50, requestBurst: 200 } },
  {
    t: 'users',
    rid: 'r1',
    users: [
      { name: 'Adam', online: true, lastSeen: 1700000000000 },
      { name: 'eve', online: false, lastSeen: null },
    ],
  },
  { t: 'presence', user: 'Eve', online: false },
  {
    t: 'presence.batch',
    changes: [
      { user: 'Eve', online: true },
      { user: 'Bob', online: false },
    ],
  },
  {
    t: 'keys.bundle',
    rid: 'r4',
    user: 'Eve',
    signKey: edpub,
    dhKey: xpub(),
    idcert: sig,
    spk,
    opk: { id: 9, pub: xpub() },
  },
  { t: 'keys.bundle', rid: 'r4', user: 'Eve', signKey: edpub, dhKey: xpub(), idcert: sig, spk },
  { t: 'presence.batch', rid: 'w1', changes: [{ user: 'Eve', online: true }] },
  { t: 'keys.low', remaining: 19 },
  { t: 'sent', rid: 'r5', id: msgId, status: 'delivered' },
  { t: 'sent', rid: 'r5', id: msgId, status: 'queued' },
  { t: 'sent', rid: 'r6', id: msgId, status: 'queued', user: 'Eve' },
  { t: 'deliver', id: msgId, from: 'Adam', env, ts: 1700000000123 },
  { t: 'ping', rid: 'x' },
  { t: 'pong', rid: 'x' },
  { t: 'error', rid: 'r5', code: 'rate_limited', message: 'slow down' },
  { t: 'error', code: 'bad_message', message: 'field to is missing' },
  {
    t: 'error',
    rid: 'r5',
    code: 'identity_changed',
    message: 'Eve has a new identity',
    id: msgId,
    identity: { user: 'Eve', signKey: edpub, dhKey: xpub(), idcert: sig },
  },
];
