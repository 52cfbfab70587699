/**
 * Group messages in the client core (docs/protocol.md sections 10.4-10.6): a text or a typing
 * notice is encrypted once with our sender key, its chain step committed with the message bytes
 * and recipients in one transaction, and sent with `send.multi` to every member whose copy of our
 * distribution the relay has already taken (so it reaches them first: each recipient's queue is
 * in order). The relay answers per recipient; each is marked, refusals retried with the same
 * id and bytes, `unknown_user` final. Received group envelopes are verified and opened with the
 * sender's record, the advanced record and the history row stored in one transaction before the
 * ack. Receipts come back pairwise and are counted per recipient (receipts.ts).
 */
import { publicIdentityFromJSON, verifyPublicIdentity, type PublicIdentity } from '../../crypto/identity';
import { encodeInnerMessage, MAX_BODY_BYTES, parseInnerMessage } from '../../crypto/inner-message';
import { randomBytes, sha256, toBase64, toHex } from '../../crypto/primitives';
import {
  MAX_ITERATION,
  openGroupMessage,
  parseGroupMessage,
  parseSenderKeyRecord,
  sealGroupMessage,
  serializeSenderKeyRecord,
  type OwnSenderKey,
} from '../../crypto/sender-keys';
import { ChatError, isChatError } from '../../errors';
import { canonName } from '../../names';
import { MAX_MULTI_RECIPIENTS } from '../../net/limits';
import type { ClientMessage, IdentityInfo } from '../../net/messages';
import type { StoreParts } from '../parts';
import type { MultiAnswer, MultiRequest } from '../requests';
import type { ChatMessage } from '../types';
import type { GroupOutgoing, StoredGroup } from './group-store';
import { groupKey, type After, type Groups } from './groups';
import { recordReceipt, trackGroupMessage, type GroupReceipts } from './receipts';

export interface GroupMessagesDeps extends StoreParts {
  readonly canon: string;
  readonly groups: Groups;
  readonly online: () => boolean;
  readonly requestMulti: (msg: MultiRequest) => Promise<MultiAnswer[]>;
  readonly out: (msg: ClientMessage) => void;
  /** Flushes the pairwise outbox (distributions), then the group outbox. */
  readonly flushAll: () => void;
}

/** What a received group envelope gave, for the inbox to show after the ack. */
export type GroupOpened = GroupReceived | { readonly key: string; readonly hold: true };

export interface GroupReceived {
  readonly hold?: undefined;
  readonly key: string;
  /** The member who sent it, as displayed. */
  readonly senderName: string;
  readonly sender: string;
  readonly stored?: ChatMessage;
  readonly typing?: boolean;
}

/** The seen-table key of a group envelope opened once (a redelivery is then dropped silently). */
function envelopeKey(env: Uint8Array): string {
  return `genv:${toHex(sha256(env))}`;
}

export class GroupMessages {
  /** Group outbox ids with a `send.multi` unanswered, and how many chunks of each. */
  private readonly inFlight = new Map<string, number>();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = 0;
  private closed = false;

  constructor(private readonly deps: GroupMessagesDeps) {}

  private get groups(): Groups {
    return this.deps.groups;
  }

  /** A member of `g` we can send to: ours is a member, nobody's identity change waits. */
  private sendable(arg: string): StoredGroup {
    const g = this.groups.resolve(arg);
    if (!g.member) throw new ChatError('not_member', `you are no longer a member of ${g.state.name}`);
    const blocked = this.groups.blockedBy(g).map((m) => this.groups.displayName(m));
    if (blocked.length) {
      const who = blocked.join(', ');
      throw new ChatError(
        'identity_changed',
        `sending to ${g.state.name} is blocked: the safety number of ${who} changed; compare it with /verify ${blocked[0]}, then /accept ${blocked[0]} (or remove them from the group)`,
      );
    }
    return g;
  }

  /**
   * Seals `inner` once and commits the chain step with `alsoStore` in one transaction. The
   * commit callback of `sealGroupMessage` runs synchronously, before its first `await` (it is the
   * operand of that await), so the transaction has committed or thrown when this returns; its
   * failure is rethrown here, and the message bytes never leave without their step stored.
   */
  private seal(
    g: StoredGroup,
    padded: Uint8Array,
    alsoStore: (own: OwnSenderKey, bytes: Uint8Array) => void,
  ): Uint8Array {
    const own = this.groups.ownKey(g);
    if (!own) throw new ChatError('not_member', `you hold no sender key in ${g.state.name}`);
    if (own.iteration >= MAX_ITERATION) throw new ChatError('bad_state', 'this sender key is used up');
    let sealed: Uint8Array | undefined;
    let failure: unknown;
    const done = sealGroupMessage(own, padded, (next, bytes) => {
      try {
        this.deps.tx(() => {
          this.groups.save({ ...g, own: next });
          alsoStore(own, bytes);
        });
        sealed = bytes;
      } catch (err) {
        failure = err;
        throw err;
      }
    });
    // Its outcome is read synchronously above; the promise only repeats it.
    done.catch(() => undefined);
    if (failure !== undefined) throw failure;
    if (sealed === undefined) throw new ChatError('internal', 'the group message was not sealed');
    return sealed;
  }

  /** Stores a text for the group and sends it in the background (GROUPS-API `sendGroup`). */
  send(arg: string, body: string): ChatMessage {
    if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) {
      throw new ChatError('too_large', `a message holds at most ${MAX_BODY_BYTES / 1024} KiB of text`);
    }
    if (body.length === 0) throw new ChatError('bad_message', 'an empty message');
    const g = this.sendable(arg);
    const now = this.deps.now();
    const id = toHex(randomBytes(16));
    const key = groupKey(g.id);
    const msg: ChatMessage = {
      id,
      peer: key,
      peerName: g.state.name,
      direction: 'out',
      body,
      ts: now,
      localTs: now,
      state: 'sending',
      group: g.id,
    };
    const to = g.state.members.filter((m) => m !== this.deps.canon);
    this.seal(g, encodeInnerMessage({ kind: 'text', id, ts: now, body }), (own, envelope) => {
      const groups = this.deps.store.groups;
      // Our key, as it is before this message, to whoever lacks it: it reaches them first.
      this.groups.distribute(g, own);
      this.deps.store.addMessage(msg);
      groups.queueGroupOutgoing({ id, group: g.id, keyId: own.keyId, envelope, createdAt: now }, to);
      groups.trackReceipts(id, g.id, trackGroupMessage(to));
    });
    this.deps.log.debug({ members: to.length }, 'group message stored for sending');
    this.deps.flushAll();
    return msg;
  }

  /**
   * A typing notice to the group: sealed (its chain step committed), sent once, never stored. It
   * goes to the members who already hold our key; to the others our key goes now, so that the
   * next notice (typing is repeated every few seconds) reaches them too: a member who has never
   * written is seen typing.
   */
  typing(arg: string, on: boolean): void {
    if (!this.deps.online()) return;
    const g = this.sendable(arg);
    const own = this.groups.ownKey(g);
    const to = this.readyMembers(g, own?.keyId);
    if (own && to.length < g.state.members.length - 1) {
      this.deps.tx(() => this.groups.distribute(g, own));
      this.deps.flushAll();
    }
    if (!to.length) return;
    const id = toHex(randomBytes(16));
    const env = this.seal(g, encodeInnerMessage({ kind: 'typing', on }), () => undefined);
    for (let i = 0; i < to.length; i += MAX_MULTI_RECIPIENTS) {
      this.deps.out({
        t: 'send.multi',
        rid: `y${id}`,
        id,
        to: this.recipients(to.slice(i, i + MAX_MULTI_RECIPIENTS)),
        env: toBase64(env),
      });
    }
  }

  /** Members the relay has taken our distribution of `keyId` for, and not blocked. */
  private readyMembers(g: StoredGroup, keyId: number | undefined, among?: readonly string[]): string[] {
    if (keyId === undefined) return [];
    const groups = this.deps.store.groups;
    return (among ?? g.state.members).filter(
      (m) =>
        m !== this.deps.canon &&
        this.deps.contacts.get(m)?.state !== 'changed' &&
        groups.keyReady(g.id, m, keyId),
    );
  }

  private recipients(members: readonly string[]): { user: string; for?: string }[] {
    return members.map((m) => {
      const c = this.deps.contacts.get(m);
      // `for`: the identity our distribution went to, so the relay refuses a stale one (10.5).
      return c ? { user: c.name, for: toBase64(c.signKey) } : { user: m };
    });
  }

  /**
   * Sends what waits in the group outbox to every recipient that is ready. Never rejects: a store
   * failure is reported and retried later (what waits stays in the store, nothing is lost).
   */
  async flush(): Promise<void> {
    if (!this.deps.online() || this.closed) return;
    try {
      const sends: Promise<void>[] = [];
      for (const o of this.deps.store.groups.pendingGroupOutgoing()) {
        if (this.inFlight.has(o.id)) continue;
        const g = this.groups.get(o.group);
        if (!g) continue;
        const ready = this.readyMembers(g, o.keyId, o.waiting);
        for (let i = 0; i < ready.length; i += MAX_MULTI_RECIPIENTS) {
          sends.push(this.transmit(o, ready.slice(i, i + MAX_MULTI_RECIPIENTS)));
        }
      }
      await Promise.all(sends);
    } catch (err) {
      const code = isChatError(err) ? err.code : 'internal';
      this.deps.log.error({ code }, 'group flush failed');
      this.deps.emit('error', {
        code,
        message: `${isChatError(err) ? err.message : 'sending to a group failed'}; what waits is sent again shortly`,
      });
      this.scheduleRetry();
    }
  }

  /** One `send.multi` of stored bytes (a resend sends the same id and bytes, never re-encrypts). */
  private async transmit(o: GroupOutgoing, members: readonly string[]): Promise<void> {
    this.inFlight.set(o.id, (this.inFlight.get(o.id) ?? 0) + 1);
    let answers: MultiAnswer[];
    try {
      answers = await this.deps.requestMulti({
        t: 'send.multi',
        id: o.id,
        to: this.recipients(members),
        env: toBase64(o.envelope),
      });
    } catch (err) {
      this.settle(o.id);
      const e = isChatError(err) ? err : new ChatError('internal', 'a group message could not be sent');
      if (e.code !== 'connection_closed') {
        this.deps.log.warn({ code: e.code }, 'send.multi refused');
        this.deps.emit('error', {
          code: e.code,
          message: `${e.message}; the group message waits and is sent again shortly`,
          peer: groupKey(o.group),
        });
      }
      this.scheduleRetry();
      return;
    }
    let retry: boolean;
    try {
      retry = this.answered(o, answers);
    } finally {
      this.settle(o.id);
    }
    // Recipients that became ready while this was in flight go now (a refusal waits for the timer).
    if (!retry) await this.flush();
  }

  /** Our group message `id` is deleted by the user: it is not sent to anyone it still waits for. */
  forget(id: string): boolean {
    const groups = this.deps.store.groups;
    const o = groups.groupOutgoing(id);
    if (!o) return false;
    this.deps.tx(() => {
      for (const m of o.waiting) groups.groupOutgoingDone(id, m);
    });
    return true;
  }

  private settle(id: string): void {
    const n = (this.inFlight.get(id) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(id);
    else this.inFlight.set(id, n);
  }

  /** The relay's answers, one per recipient: stored together, then shown. True if some wait a retry. */
  private answered(o: GroupOutgoing, answers: readonly MultiAnswer[]): boolean {
    const key = groupKey(o.group);
    const after: After[] = [];
    let retry = false;
    let moved: 'sent' | 'queued' | undefined;
    this.deps.tx(() => {
      const groups = this.deps.store.groups;
      for (const a of answers) {
        const member = canonName(a.user ?? '');
        if (a.t === 'sent') {
          groups.groupOutgoingDone(o.id, member);
          const state = a.status === 'queued' ? 'queued' : 'sent';
          if (this.deps.store.setState(key, o.id, state)) moved = state;
          continue;
        }
        switch (a.code) {
          case 'unknown_user':
            // Final for this recipient (the name is gone at the relay); the others go on.
            groups.groupOutgoingDone(o.id, member);
            after.push(() =>
              this.deps.emit('error', { code: a.code, message: `not delivered: ${a.message}`, peer: key }),
            );
            break;
          case 'identity_changed':
            this.refusedChanged(member, a.identity, key, after);
            break;
          default:
            retry = true;
            after.push(() => this.deps.log.warn({ code: a.code }, 'a group copy was refused; retried'));
        }
      }
    });
    for (const a of after) a();
    if (moved) this.deps.emit('receipt', { peer: key, ids: [o.id], state: moved });
    if (retry) this.scheduleRetry();
    else this.retryDelay = 0;
    return retry;
  }

  /** The relay says a member registered another identity: verified, recorded; the group blocks. */
  private refusedChanged(member: string, info: IdentityInfo | undefined, key: string, after: After[]): void {
    let pub: PublicIdentity | undefined;
    try {
      if (info) {
        const { signKey, dhKey, idcert } = info;
        pub = publicIdentityFromJSON({ signKey, dhKey, idcert }, 'bad_key', 'identity_changed');
        verifyPublicIdentity(pub);
      }
    } catch (err) {
      if (!isChatError(err)) throw err;
      pub = undefined;
    }
    if (!pub || !info) {
      after.push(() =>
        this.deps.emit('error', {
          code: 'bad_key',
          message: `the relay reported an unverifiable new identity for ${member}`,
          peer: key,
        }),
      );
      return;
    }
    const contact = this.deps.contacts.get(member);
    if (contact) this.deps.contacts.recordChange(info.user, pub);
    after.push(() => {
      const name = this.groups.displayName(member);
      this.deps.emit('contact', { name, state: 'changed' });
      this.deps.emit('error', {
        code: 'identity_changed',
        message: `the safety number of ${name} changed: sending to this group is blocked; compare it with /verify ${name}, then /accept ${name} (or remove them from the group)`,
        peer: key,
      });
    });
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    this.retryDelay = Math.min(60_000, this.retryDelay * 2 || 1000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, this.retryDelay);
    this.retryTimer.unref();
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  /**
   * Verifies and opens a group envelope from `from` and stores the advanced record, the seen mark
   * and the history row in one transaction. From someone not (yet) a member who sent us a sender
   * key: `hold` (the inbox keeps it until a change adds them). Throws a coded error and stores nothing on failure:
   * `bad_message`, `not_member`, `no_session`, `decrypt_failed`, `duplicate_message`, ...
   */
  open(from: string, env: Uint8Array): GroupOpened {
    const peer = canonName(from);
    const m = parseGroupMessage(env);
    const gid = toHex(m.groupId);
    const g = this.groups.get(gid);
    // A sender key came for a group whose state has not (it overtook the state adding us): held.
    if (!g && this.deps.store.groups.peerKey(gid, peer) !== undefined)
      return { key: groupKey(gid), hold: true };
    if (!g || !g.member) throw new ChatError('no_session', 'a group message for a group we are not in');
    if (!g.state.members.includes(peer)) {
      // Their key came (kept, groups.ts): the message may have overtaken the change adding them.
      if (this.deps.store.groups.peerKey(gid, peer) !== undefined) return { key: groupKey(gid), hold: true };
      throw new ChatError('not_member', `${from} is not a member of ${g.state.name}`);
    }
    const held = this.deps.store.groups.peerKey(gid, peer);
    if (held === undefined) throw new ChatError('no_session', 'no sender key from this member');
    const now = this.deps.now();
    const opened = openGroupMessage(parseSenderKeyRecord(held), m, now);
    const inner = parseInnerMessage(opened.plaintext);
    if (inner.kind === 'receipt')
      throw new ChatError('bad_message', 'a receipt goes pairwise, not to a group');
    const key = groupKey(gid);
    const senderName = this.groups.displayName(peer);
    let stored: ChatMessage | undefined;
    this.deps.tx(() => {
      this.deps.store.groups.savePeerKey(gid, peer, serializeSenderKeyRecord(opened.record));
      this.deps.store.rememberSeen(key, envelopeKey(env), now);
      if (inner.kind !== 'text') return;
      const msg: ChatMessage = {
        id: inner.id,
        peer: key,
        peerName: g.state.name,
        direction: 'in',
        body: inner.body,
        ts: inner.ts,
        localTs: now,
        state: 'received',
        group: gid,
        sender: senderName,
      };
      if (this.deps.store.addMessage(msg)) stored = msg;
    });
    return {
      key,
      sender: peer,
      senderName,
      ...(stored ? { stored } : {}),
      ...(inner.kind === 'typing' ? { typing: inner.on } : {}),
    };
  }

  /** After `duplicate_message`: true if this very envelope was opened before (drop it silently). */
  alreadyOpened(env: Uint8Array): boolean {
    try {
      return this.deps.store.seenRecently(groupKey(toHex(parseGroupMessage(env).groupId)), envelopeKey(env));
    } catch (err) {
      if (isChatError(err, 'bad_message') || isChatError(err, 'too_large')) return false;
      throw err;
    }
  }

  /** The group conversation key of a group envelope, when it parses (for error events). */
  keyOf(env: Uint8Array): string | undefined {
    try {
      return groupKey(toHex(parseGroupMessage(env).groupId));
    } catch {
      // Malformed: the error is reported under the sender instead.
      return undefined;
    }
  }

  /**
   * Pairwise receipts from `from` for ids of our group messages (in the decrypt transaction):
   * counted per recipient; the message's state moves forward at the first member.
   */
  receipts(from: string, ids: readonly string[], state: 'delivered' | 'read', after: After[]): void {
    const groups = this.deps.store.groups;
    const byKey = new Map<string, string[]>();
    for (const id of ids) {
      const r = groups.receipts(id);
      if (!r) continue;
      const next = recordReceipt(r.receipts, from, state);
      if (next === r.receipts) continue;
      groups.trackReceipts(id, r.group, next);
      const key = groupKey(r.group);
      this.deps.store.setState(key, id, state);
      byKey.set(key, [...(byKey.get(key) ?? []), id]);
    }
    for (const [peer, changed] of byKey)
      after.push(() => this.deps.emit('receipt', { peer, ids: changed, state }));
  }

  receiptsOf(arg: string, id: string): GroupReceipts | undefined {
    const g = this.groups.find(arg);
    if (!g) return undefined;
    const r = this.deps.store.groups.receipts(id);
    return r && r.group === g.id ? r.receipts : undefined;
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}
