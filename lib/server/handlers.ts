/**
 * The request handlers, one per client message type (docs/protocol.md section 7), as a table:
 * adding a request type is adding one entry, and the type checker refuses a missing one.
 * A handler throws a ChatError with a wire code to refuse; the relay answers it with `error`.
 */
import { concatBytes, constantTimeEqual, fromBase64, toBase64 } from '../crypto/primitives';
import { ChatError, type WireErrorCode } from '../errors';
import { canonName } from '../names';
import { verifySignature } from '../net/ed25519-verify';
import type { ClientMessage } from '../net/messages';
import type { Delivery } from './delivery';
import type { Presence } from './presence';
import type { KeyedBuckets } from './rate-limit';
import { sendMulti } from './send-multi';
import { IdRing } from './id-ring';
import { KeptRecords } from './per-recipient';
import { ackingOf, type RelayContext, type Session } from './session';
import type { EnqueueResult, NewEnvelope, QueueCaps, UserRecord } from './store';

/** Addresses whose emptied counts a recipient keeps (see AddressShare). */
const ADDRESSES_KEPT = 16;

/** Envelopes waiting per (recipient, sender address), in memory only: no name of a sender is kept. */
export class AddressShare {
  /**
   * Per recipient: how many wait from each address, and the address each waiting id came from
   * (a ring, id-ring.ts: a Map per recipient re-made its table at almost every ack), until its
   * ack. A count that drops to 0 stays (a Map's delete re-makes its table too) unless the
   * recipient has had envelopes from more than ADDRESSES_KEPT addresses. A recipient's record is
   * kept when emptied (KeptRecords, issue 12).
   */
  private readonly of = new KeptRecords<{ counts: Map<string, number>; from: IdRing<string> }>(
    () => ({ counts: new Map(), from: new IdRing() }),
    (r) => r.from.size === 0,
  );

  count(to: string, address: string): number {
    return this.of.get(to)?.counts.get(address) ?? 0;
  }

  add(to: string, id: string, address: string): void {
    const r = this.of.take(to);
    r.counts.set(address, (r.counts.get(address) ?? 0) + 1);
    r.from.add(id, address);
  }

  remove(to: string, id: string): void {
    const r = this.of.get(to);
    const address = r?.from.get(id);
    if (!r || address === undefined) return;
    r.from.delete(id);
    this.of.removed(r);
    const n = (r.counts.get(address) ?? 1) - 1;
    if (n <= 0 && r.counts.size > ADDRESSES_KEPT) r.counts.delete(address);
    else r.counts.set(address, n);
  }

  /** The recipient's queue was dropped (a recovered name). */
  dropRecipient(to: string): void {
    this.of.drop(to);
  }

  /** Recipients that have a record, empty or not (for tests of the pruning). */
  get recipients(): number {
    return this.of.size;
  }
}

export interface HandlerDeps {
  readonly ctx: RelayContext;
  readonly presence: Presence;
  readonly delivery: Delivery;
  /** `keys.fetch` per requesting identity; one-time prekeys handed out per target; `list` per identity. */
  readonly fetches: KeyedBuckets;
  readonly opkGrants: KeyedBuckets;
  readonly lists: KeyedBuckets;
  readonly shares: AddressShare;
  /** Runs `then` after a batched store write commits, off the request chain. */
  afterWrite<T>(session: Session, msg: ClientMessage, write: Promise<T>, then: (v: T) => void): void;
  /**
   * `afterWrite` for a write that reports by callback (`enqueueEarly`): `writing` once it is
   * under way, `written` when it settles, which answers an error and says whether there was none.
   */
  writing(): void;
  written(session: Session, msg: ClientMessage, err: unknown): boolean;
  /** Answers a refused request (counted against the connection's refusals). */
  refuse(session: Session, rid: string | undefined, code: WireErrorCode, message: string): void;
}

type Handler<T extends ClientMessage['t']> = (
  d: HandlerDeps,
  s: Session,
  msg: Extract<ClientMessage, { t: T }>,
) => void | Promise<void>;

export const HANDLERS: { readonly [T in ClientMessage['t']]: Handler<T> } = {
  ping: (_d, s, msg) => s.channel.send({ t: 'pong', rid: msg.rid }),

  pong: () => undefined,

  list: async (d, s, msg) => {
    if (!d.lists.take(s.user.canon)) {
      d.refuse(s, msg.rid, 'rate_limited', `at most ${d.ctx.limits.listPerMinute} lists a minute`);
      return;
    }
    const all = await d.ctx.store.listUsers();
    // Cluster: online on any relay; a single relay knows from its own connections.
    const held = d.ctx.cluster ? await d.ctx.cluster.online(all.map((u) => u.canon)) : undefined;
    const users = all.map((u, i) => ({
      name: u.name,
      online: held ? held[i] : d.ctx.sessions.has(u.canon),
      lastSeen: u.lastSeen ?? null,
    }));
    const size = d.ctx.limits.usersPageSize;
    for (let i = 0; i === 0 || i < users.length; i += size) {
      const more = i + size < users.length;
      s.channel.send({
        t: 'users',
        rid: msg.rid,
        users: users.slice(i, i + size),
        ...(more ? { more } : {}),
      });
    }
  },

  'keys.publish': async (d, s, msg) => {
    const spk = { id: msg.spk.id, pub: fromBase64(msg.spk.pub, 32), sig: fromBase64(msg.spk.sig, 64) };
    const idBytes = new Uint8Array(4);
    new DataView(idBytes.buffer).setUint32(0, spk.id);
    // Section 3: the relay checks the signed prekey against the registered signKey.
    if (!verifySignature(s.user.signKey, 'chatsecure-spk-v1', concatBytes(idBytes, spk.pub), spk.sig)) {
      throw new ChatError('bad_message', 'the signed prekey signature does not verify');
    }
    const opks = msg.opks.map((o) => ({ id: o.id, pub: fromBase64(o.pub, 32) }));
    const r = await d.ctx.store.publishPrekeys(s.user.canon, spk, opks);
    if (r === 'duplicate_id') throw new ChatError('bad_message', 'a one-time prekey id was already used');
    const remaining = await d.ctx.store.countOpks(s.user.canon);
    s.channel.send({ t: 'keys.low', remaining, rid: msg.rid });
  },

  'keys.fetch': async (d, s, msg) => {
    // Defect 5: per requesting identity, across its connections.
    if (!d.fetches.take(s.user.canon)) {
      d.refuse(s, msg.rid, 'rate_limited', `at most ${d.ctx.limits.keysFetchPerMinute} key fetches a minute`);
      return;
    }
    const canon = canonName(msg.user);
    const target = await d.ctx.store.lookup(canon);
    if (!target) throw new ChatError('unknown_user', `no user is called ${msg.user}`);
    // Defect 5: a target's one-time prekeys are handed out at a bounded rate, whoever asks.
    const bundle = await d.ctx.store.takeBundle(canon, d.opkGrants.take(canon));
    if (!bundle) throw new ChatError('unknown_user', `${target.name} has published no keys yet`);
    s.channel.send({
      t: 'keys.bundle',
      rid: msg.rid,
      user: target.name,
      signKey: toBase64(target.signKey),
      dhKey: toBase64(target.dhKey),
      idcert: toBase64(target.idcert),
      spk: { id: bundle.spk.id, pub: toBase64(bundle.spk.pub), sig: toBase64(bundle.spk.sig) },
      ...(bundle.opk ? { opk: { id: bundle.opk.id, pub: toBase64(bundle.opk.pub) } } : {}),
    });
    const owner = d.ctx.sessions.get(canon);
    if (owner && bundle.opk) {
      const remaining = await d.ctx.store.countOpks(canon);
      if (remaining < d.ctx.limits.opkLowWater) owner.channel.send({ t: 'keys.low', remaining });
    }
  },

  send: (d, s, msg) => {
    const canon = canonName(msg.to);
    // An online user's record is at hand, and the request is handled without a promise of its
    // own (issue 12); only offline recipients cost a lookup.
    const online = d.ctx.sessions.get(canon);
    if (online) return sendTo(d, s, msg, canon, online.user);
    return d.ctx.store.lookup(canon).then((target) => {
      if (!target) throw new ChatError('unknown_user', `no user is called ${msg.to}`);
      sendTo(d, s, msg, canon, target);
    });
  },

  'send.multi': sendMulti,

  ack: (d, s, msg) => {
    const id = msg.id;
    s.inflight?.delete(id);
    // Delivered early and not yet committed: nothing to wait for (issue 12: no promise).
    if (d.ctx.store.cancelEarly?.(s.user.canon, id)) {
      d.shares.remove(s.user.canon, id);
      d.delivery.acked(s);
      return;
    }
    // Until the delete is visible, `pump` must not deliver the id again (see `readsSeeAcks`).
    const acking = d.ctx.store.readsSeeAcks ? undefined : ackingOf(s);
    acking?.add(id);
    const deleted = d.ctx.store.ack(s.user.canon, id);
    // Cluster: an ack that Redis did not take (an outage) is delivered again when it is back;
    // the failure itself is answered by afterWrite.
    if (acking && d.ctx.cluster) deleted.catch(() => acking.delete(id));
    d.afterWrite(s, msg, deleted, () => {
      acking?.delete(id);
      d.shares.remove(s.user.canon, id);
      d.delivery.acked(s);
    });
  },

  'presence.watch': (d, s, msg) => d.presence.watch(s, msg.rid, msg.users),

  'presence.unwatch': (d, s, msg) => d.presence.unwatch(s, msg.rid, msg.users),
};

/** `send` once the recipient is known: checks, then the store write and its answers. */
function sendTo(
  d: HandlerDeps,
  s: Session,
  msg: Extract<ClientMessage, { t: 'send' }>,
  canon: string,
  target: UserRecord,
): void {
  const { ctx } = d;
  // Issue 9 point 7: sealed for an identity the recipient no longer has. Nothing is stored.
  if (msg.for !== undefined && !constantTimeEqual(fromBase64(msg.for, 32), target.signKey)) {
    s.channel.send({
      t: 'error',
      rid: msg.rid,
      code: 'identity_changed',
      message: `${target.name} has a new identity`,
      id: msg.id,
      identity: {
        user: target.name,
        signKey: toBase64(target.signKey),
        dhKey: toBase64(target.dhKey),
        idcert: toBase64(target.idcert),
      },
    });
    return;
  }
  const limits = ctx.limits;
  // Defect 4: one address's share of one user's queue, and a smaller share for a new identity.
  if (d.shares.count(canon, s.address) >= limits.queuePerAddress) {
    throw new ChatError('queue_full', `${target.name} has too many messages waiting from this address`);
  }
  const ts = ctx.now();
  const young = ts - s.user.registeredAt < limits.newIdentityMs;
  // The envelope as parsed (checked base64): the store decodes it only if it writes it.
  const env = { id: msg.id, to: canon, from: s.user.name, env: msg.env, ts };
  const caps = {
    perRecipient: limits.queuePerRecipient,
    perSender: young ? limits.queuePerNewSender : limits.queuePerSender,
  };
  if (ctx.cluster) {
    sendInCluster(d, s, msg, target.name, ts, ctx.cluster.enqueue(env, caps));
    return;
  }
  if (ctx.sessions.has(canon) && sendEarly(d, s, msg, canon, env, caps)) return;
  // Issue 12: once the insert is committed (visible to every later read and write, the ack's
  // delete included) an online recipient gets `deliver` while the fsync runs; `sent` still
  // waits for the fsync. A commit that then fails to reach the disk loses nothing: the sender
  // had no `sent` and resends with the same id, and the recipient drops the repeat by id.
  let status: 'delivered' | 'queued' | undefined;
  const committed = (r: EnqueueResult) => {
    if (r === 'queue_full') return;
    if (r === 'ok') {
      d.shares.add(canon, msg.id, s.address);
      ctx.observer?.count('stored');
    }
    const recipient = ctx.sessions.get(canon);
    status = recipient ? 'delivered' : 'queued';
    if (!recipient) return;
    if (r === 'ok')
      d.delivery.deliverNew(canon, { t: 'deliver', id: msg.id, from: s.user.name, env: msg.env, ts });
    else d.delivery.pumpLater(recipient);
  };
  // For an online recipient the store may deliver before the insert commits, and an ack that
  // comes first cancels the insert (sqlite-store.ts `enqueue`, protocol.md section 7 "Ack
  // before the commit"); `sent` then waits for that ack or the fsync, whichever is first.
  const stored = ctx.store.enqueue(env, caps, committed, ctx.sessions.has(canon));
  // The store commits in call order, so this connection's next request may be read while
  // this one commits; answers and deliveries still follow the order of the sends.
  d.afterWrite(s, msg, stored, (r) => {
    if (r === 'queue_full') {
      d.refuse(s, msg.rid, 'queue_full', `${target.name} has too many messages waiting`);
      return;
    }
    // A store without a committed step (Redis) reaches this point first.
    if (status === undefined) committed(r);
    // Stored durably before we answer: from here the relay is responsible for it.
    s.channel.send({ t: 'sent', rid: msg.rid, id: msg.id, status: status ?? 'queued' });
  });
}

/**
 * `send` to an online recipient through `enqueueEarly` (issue 12): when the store has it and takes it early,
 * it is delivered now and `sent` answered when the recipient's ack cancels the insert or the
 * insert is on disk, with one closure for it all (the promise path's promise, reaction and
 * closures were most of what a message in flight held). False: the store did not take it.
 * Its own function, so the closure's context holds only what it uses.
 */
function sendEarly(
  d: HandlerDeps,
  s: Session,
  msg: Extract<ClientMessage, { t: 'send' }>,
  canon: string,
  env: NewEnvelope,
  caps: QueueCaps,
): boolean {
  // As at a commit: if the delivery throws, the write stands and the sender gets the error
  // instead of `sent`.
  let undelivered: { err: unknown } | undefined;
  const taken = d.ctx.store.enqueueEarly?.(env, caps, (err) => {
    if (d.written(s, msg, err ?? undelivered?.err))
      s.channel.send({ t: 'sent', rid: msg.rid, id: msg.id, status: 'delivered' });
  });
  if (taken !== true) return false;
  d.writing();
  d.shares.add(canon, msg.id, s.address);
  d.ctx.observer?.count('stored');
  try {
    d.delivery.deliverNew(canon, { t: 'deliver', id: msg.id, from: s.user.name, env: msg.env, ts: env.ts });
  } catch (err) {
    undelivered = { err };
  }
  return true;
}

/**
 * `send` in cluster mode: the enqueue script also woke the relay holding the recipient, which
 * delivers from the queue (this one too, through its own subscription); `sent` says whether a
 * relay was listening, after Redis answered the write.
 */
function sendInCluster(
  d: HandlerDeps,
  s: Session,
  msg: Extract<ClientMessage, { t: 'send' }>,
  name: string,
  ts: number,
  stored: Promise<{ result: EnqueueResult; delivered: boolean }>,
): void {
  d.afterWrite(s, msg, stored, ({ result, delivered }) => {
    if (result === 'queue_full') {
      d.refuse(s, msg.rid, 'queue_full', `${name} has too many messages waiting`);
      return;
    }
    if (result === 'ok') {
      d.shares.add(canonName(msg.to), msg.id, s.address);
      d.ctx.observer?.count('stored');
    }
    s.channel.send({ t: 'sent', rid: msg.rid, id: msg.id, status: delivered ? 'delivered' : 'queued' });
    // A recipient on this relay: delivered at once, as on a single relay (its wake-up then
    // finds the id in flight and costs nothing). Elsewhere, its relay was woken by the enqueue.
    const here = d.ctx.sessions.get(canonName(msg.to));
    if (!here) return;
    if (result === 'ok')
      d.delivery.deliverNew(here.user.canon, {
        t: 'deliver',
        id: msg.id,
        from: s.user.name,
        env: msg.env,
        ts,
      });
    else d.delivery.pumpLater(here);
  });
}

/** Looks the message's handler up in the table and runs it. */
export function handle(d: HandlerDeps, s: Session, msg: ClientMessage): void | Promise<void> {
  return (HANDLERS[msg.t] as Handler<typeof msg.t>)(d, s, msg);
}
