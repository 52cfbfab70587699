/**
 * The inbox (issue 9, Structure): what the relay delivers. An envelope is decrypted and stored
 * before it is acked; one from a contact whose identity changed is held until `/accept`; a store
 * failure leaves it unacked and reconnects later so the relay delivers it again (point 10).
 * Its dependencies are passed in; it knows nothing of `Client` or the connection.
 */
import { parseEnvelope } from '../crypto/envelope';
import { fromBase64 } from '../crypto/primitives';
import { ChatError, isChatError } from '../errors';
import { canonName } from '../names';
import type { RelayMessage } from '../net/messages';
import { GROUP_MESSAGE_MAGIC } from '../crypto/sender-keys';
import type { GroupMessages } from './groups/group-messages';
import type { After, Groups } from './groups/groups';
import type { StoreParts } from './parts';
import type { DeliveredReceipts, Typing } from './receipts-typing';
import type { ChatMessage } from './types';

export interface InboxDeps extends StoreParts {
  /** Tells the relay an envelope is safely stored (or reported): it is not delivered again. */
  readonly ack: (id: string) => void;
  readonly delivered: DeliveredReceipts;
  readonly typing: Typing;
  /** A text arrived from `peer`: its conversation is shown again (before the `message` event). */
  readonly reopen: (peer: string) => void;
  /** Presence for a newly pinned contact. */
  readonly watch: (names: readonly string[]) => void;
  /** Ends the connection, so that the relay delivers what is unacked on the next one. */
  readonly reconnect: (message: string) => void;
  readonly groups: Groups;
  readonly groupMessages: GroupMessages;
}

export class Inbox {
  private storageFailures = 0;
  private redeliverTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: InboxDeps) {}

  deliver(m: Extract<RelayMessage, { t: 'deliver' }>): void {
    const peer = canonName(m.from);
    const env = fromBase64(m.env);
    const contact = this.deps.contacts.get(peer);
    if (contact?.state === 'changed') {
      // Section 8.4: held until the user accepts the new identity.
      this.deps.store.holdIncoming({ id: m.id, from: m.from, env, ts: m.ts });
      this.deps.ack(m.id);
      return;
    }
    this.receive(m.id, m.from, env);
  }

  receive(outerId: string, from: string, env: Uint8Array): void {
    // Section 10.4: a group envelope starts with 0x47, never `{` as a pairwise one does.
    if (env[0] === GROUP_MESSAGE_MAGIC) {
      this.receiveGroup(outerId, from, env);
      return;
    }
    const peer = canonName(from);
    const after: After[] = [];
    let stored: ChatMessage | undefined;
    let receipt: { ids: string[]; state: 'delivered' | 'read' } | undefined;
    let typing: boolean | undefined;
    try {
      const r = this.deps.e2e.decrypt(from, env, (inner) => {
        switch (inner.kind) {
          case 'text': {
            const now = this.deps.now();
            const msg: ChatMessage = {
              id: inner.id,
              peer,
              peerName: this.deps.contacts.get(peer)?.name ?? from,
              direction: 'in',
              body: inner.body,
              ts: inner.ts,
              localTs: now,
              state: 'received',
            };
            if (this.deps.store.addMessage(msg)) stored = msg;
            return;
          }
          case 'receipt': {
            // Accepted only for ids we sent to this same contact (setState is keyed by peer).
            const changed = inner.of.filter((id) => this.deps.store.setState(peer, id, inner.state));
            if (changed.length) receipt = { ids: changed, state: inner.state };
            // The others may be our group messages: counted if this contact was a recipient.
            const rest = inner.of.filter((id) => !changed.includes(id));
            if (rest.length) this.deps.groupMessages.receipts(peer, rest, inner.state, after);
            return;
          }
          case 'typing':
            typing = inner.on;
            return;
          case 'group.state':
          case 'group.change':
          case 'group.key':
            this.deps.groups.received(from, inner, after);
            return;
        }
      });
      this.deps.ack(outerId);
      if (r.t === 'duplicate') {
        this.deps.log.debug({ from: peer }, 'duplicate message dropped');
        return;
      }
      if (r.pinned) {
        this.deps.emit('contact', { name: from, state: 'unverified' });
        this.deps.watch([from]);
      }
    } catch (err) {
      this.onReceiveFailed(err, outerId, from, env);
      return;
    }
    this.storageFailures = 0;
    if (stored) {
      this.deps.reopen(peer);
      this.deps.log.debug({ from: peer }, 'message received');
      this.deps.emit('message', stored);
      this.deps.delivered.add(peer, stored.id);
      this.deps.typing.clear(peer);
    }
    if (receipt) this.deps.emit('receipt', { peer, ids: receipt.ids, state: receipt.state });
    if (typing !== undefined) this.deps.typing.received(peer, from, typing);
    for (const a of after) a();
  }

  /**
   * A group envelope (section 10.6): opened and stored in one transaction, then acked. A store
   * failure is not acked (received again later); a duplicate is acked and dropped; anything else
   * (no sender key, a forged signature, a non-member) is acked and reported, never a crash.
   */
  private receiveGroup(outerId: string, from: string, env: Uint8Array): void {
    const peer = canonName(from);
    const gm = this.deps.groupMessages;
    let r;
    try {
      r = gm.open(from, env);
    } catch (err) {
      if (!isChatError(err) || err.code === 'storage_failed' || err.code === 'corrupt_store') {
        this.onReceiveFailed(err, outerId, from, env);
        return;
      }
      let seen = false;
      try {
        seen = err.code === 'duplicate_message' && gm.alreadyOpened(env);
      } catch (e) {
        this.onReceiveFailed(e, outerId, from, env);
        return;
      }
      this.deps.ack(outerId);
      if (seen) {
        this.deps.log.debug({ from: peer }, 'replayed group envelope dropped');
        return;
      }
      const code = err.code === 'duplicate_message' ? 'message_expired' : err.code;
      const why = err.code === 'duplicate_message' ? 'expired' : err.code;
      this.deps.log.warn({ code, from: peer }, 'a group envelope did not open');
      this.deps.emit('error', {
        code,
        message: `a group message from ${from} could not be decrypted (${why})`,
        peer: gm.keyOf(env) ?? peer,
      });
      return;
    }
    if (r.hold) {
      // Held like an envelope from a changed identity (same table, same cap) until a group change
      // adds its sender (`releaseFor`); acked once stored.
      const held = this.deps.store.holdIncoming({ id: outerId, from, env, ts: this.deps.now() });
      this.deps.ack(outerId);
      if (held === 'full') {
        this.deps.emit('error', {
          code: 'not_member',
          message: `a group message from ${from}, not a member yet, was dropped: too many are held`,
          peer: r.key,
        });
      }
      return;
    }
    this.deps.ack(outerId);
    this.storageFailures = 0;
    if (r.stored) {
      this.deps.reopen(r.key);
      this.deps.emit('message', r.stored);
      // The delivered receipt goes pairwise to the sender only (section 10.1).
      this.deps.delivered.add(r.sender, r.stored.id);
      this.deps.typing.clear(r.key);
    }
    if (r.typing !== undefined) this.deps.typing.received(r.key, r.senderName, r.typing);
  }

  /**
   * A group change added `peer`: group messages from them held until now are received (only when
   * their identity is not waiting for `/accept`, whose envelopes this same table holds).
   */
  releaseFor(peer: string): void {
    if (this.deps.contacts.get(peer)?.state === 'changed') return;
    const held = this.deps.store.heldIncoming(peer);
    if (!held.length) return;
    for (const h of this.deps.store.releaseHeld(peer)) this.receive(h.id, h.from, h.env);
  }

  /**
   * A delivery that did not decrypt. A store failure or an unexpected error (a bug) is NOT acked:
   * the relay delivers it again on the next connection (issue 9, point 10). Everything else is
   * acked and reported, never dropped silently, except a redelivery of an envelope already read.
   */
  private onReceiveFailed(err: unknown, outerId: string, from: string, env: Uint8Array): void {
    const peer = canonName(from);
    if (!isChatError(err) || err.code === 'storage_failed' || err.code === 'corrupt_store') {
      const code = isChatError(err) ? err.code : 'internal';
      this.deps.log.error({ code, from: peer }, 'could not store a message');
      this.deps.emit('error', {
        code,
        message: isChatError(err)
          ? err.message
          : `a message from ${from} could not be stored (internal error); it is received again later`,
        peer,
      });
      this.receiveAgainLater();
      return;
    }
    if (err.code === 'identity_changed') {
      try {
        this.onIdentityChanged(peer, from, outerId, env);
      } catch (e) {
        this.onReceiveFailed(
          isChatError(e, 'identity_changed') ? new Error('internal') : e,
          outerId,
          from,
          env,
        );
        return;
      }
      this.deps.ack(outerId);
      return;
    }
    if (err.code === 'duplicate_message') {
      let seen: boolean;
      try {
        seen = this.deps.e2e.alreadyDecrypted(from, env);
      } catch (e) {
        this.onReceiveFailed(e, outerId, from, env);
        return;
      }
      this.deps.ack(outerId);
      if (seen) {
        // Section 8: an envelope already decrypted (a redelivery, a replay) is dropped silently.
        this.deps.log.debug({ from: peer }, 'replayed envelope dropped');
        return;
      }
      // Issue 9, point 6: its key expired or was evicted; the user is told, not left guessing.
      this.deps.log.warn({ code: 'message_expired', from: peer }, 'an envelope could no longer be decrypted');
      this.deps.emit('error', {
        code: 'message_expired',
        message: `a message from ${from} could not be decrypted (expired)`,
        peer,
      });
      return;
    }
    this.deps.ack(outerId);
    this.deps.log.warn({ code: err.code, from: peer }, 'an envelope did not decrypt');
    this.deps.emit('error', {
      code: err.code,
      message: `a message from ${from} could not be decrypted (${err.code})`,
      peer,
    });
  }

  /**
   * The relay redelivers unacked envelopes only on a new connection: after a store failure,
   * reconnect after a pause that grows (5 s, 10 s, ... 60 s) while the store keeps failing.
   */
  private receiveAgainLater(): void {
    if (this.redeliverTimer) return;
    const delay = Math.min(60_000, 5_000 * 2 ** this.storageFailures++);
    this.redeliverTimer = setTimeout(() => {
      this.redeliverTimer = undefined;
      this.deps.reconnect('reconnecting to receive again after a store failure');
    }, delay);
    this.redeliverTimer.unref();
  }

  /**
   * A prekey envelope from another identity than the pin (already verified by the session
   * manager: only a verified identity becomes pending). The identity is recorded as pending and
   * the envelope held in one transaction, before the ack; a store failure throws and nothing is
   * acked (issue 9, point 10).
   */
  private onIdentityChanged(peer: string, from: string, outerId: string, env: Uint8Array): void {
    const parsed = parseEnvelope(env);
    if (parsed.t !== 'prekey')
      throw new ChatError('bad_message', 'an identity change needs a prekey envelope');
    const held = this.deps.tx(() => {
      this.deps.contacts.recordChange(from, parsed.x3dh.ik);
      return this.deps.store.holdIncoming({ id: outerId, from, env, ts: this.deps.now() });
    });
    const name = this.deps.contacts.get(peer)?.name ?? from;
    this.deps.log.warn({ peer, held }, 'safety number changed');
    this.deps.emit('contact', { name, state: 'changed' });
    const number = this.deps.contacts.safetyNumber(peer);
    this.deps.emit('error', {
      code: 'identity_changed',
      message: `the safety number with ${name} changed: sending is blocked; the new safety number is ${number}: compare it with /verify ${name}, then /accept ${name}`,
      peer,
    });
  }

  /** Stops the redelivery timer (the client is closing); it stays set, so nothing is scheduled again. */
  close(): void {
    if (this.redeliverTimer) clearTimeout(this.redeliverTimer);
  }
}
