/**
 * Sending (issue 9, Structure): a text is stored, sealed into the outbox (in one transaction
 * when a session exists) and sent through a bounded window; the relay's `sent` answers of one
 * turn are stored together; refusals keep the text or fail it for good (unknown user). Receipts
 * and typing notices go out here too. Its dependencies are passed in; no reference to `Client`.
 */
import { publicIdentityFromJSON, verifyPublicIdentity, type PublicIdentity } from '../crypto/identity';
import { MAX_BODY_BYTES, type InnerMessage } from '../crypto/inner-message';
import { preKeyBundleFromJSON } from '../crypto/prekeys';
import { randomBytes, toBase64, toHex } from '../crypto/primitives';
import { ChatError, isChatError } from '../errors';
import { canonName, checkName } from '../names';
import type { ClientMessage, IdentityInfo, RelayMessage, UserEntry } from '../net/messages';
import { groupInnerFromText, groupInnerToText, type GroupInner } from './groups/inner';
import type { Outbox } from './outbox';
import type { StoreParts } from './parts';
import type { Request } from './requests';
import type { OutgoingRecord, SentStatus, UnsentText } from './store';
import type { ChatMessage } from './types';

/** Outbox envelopes sent and not yet answered, at most (issue 9, point 9). */
export const SEND_WINDOW = 32;
/** Ids per receipt envelope: 500 ids of 34 JSON bytes stay well inside the 32 KiB inner limit. */
const RECEIPT_IDS_MAX = 500;

export interface SenderDeps extends StoreParts {
  readonly canon: string;
  readonly outbox: Outbox;
  /** Logged in at the relay. */
  readonly online: () => boolean;
  /** A connection to the relay exists (logged in or not yet). */
  readonly connected: () => boolean;
  /** Sends a request to the relay, paced. */
  readonly out: (msg: ClientMessage) => void;
  readonly request: <T extends RelayMessage['t']>(
    msg: Request,
    expect: T,
  ) => Promise<Extract<RelayMessage, { t: T }>>;
  readonly list: () => Promise<UserEntry[]>;
  /** The name as the relay shows it, for a user online now. */
  readonly onlineName: (peer: string) => string | undefined;
  /** A text to `peer` was written: its conversation is shown again. */
  readonly reopen: (peer: string) => void;
  /** Presence for a new contact. */
  readonly watch: (names: readonly string[]) => void;
  /** Requests the relay's burst allows at once. */
  readonly pacerWindow: () => number;
  /** After each flush: the group outbox (group-messages.ts), whose sends wait for distributions. */
  readonly groupFlush: () => void;
}

export class Sender {
  private flushing = false;
  private flushAgain = false;
  private retryFlushTimer: NodeJS.Timeout | undefined;
  private retryFlushDelay = 0;
  /**
   * Peers whose last `keys.fetch` failed (no keys yet, a rate limit): no other fetch for them
   * until the scheduled retry or their coming online (the relay allows 10 a minute per identity,
   * and every typed line flushes). Their texts wait, unsent, meanwhile.
   */
  private readonly fetchHeld = new Set<string>();
  /** Peers told their texts wait for a session, with the reason: told again only if it changes. */
  private readonly toldWaiting = new Map<string, string>();
  /** `sent` answers of this turn, stored together in one transaction (one disk sync, not one each). */
  private readonly sentBatch: { id: string; status: SentStatus }[] = [];

  constructor(private readonly deps: SenderDeps) {}

  /**
   * Issue 9, point 7: the relay refused a `send` because the recipient registered another
   * identity. The identity is verified before it is recorded as pending; the text goes back to
   * the unsent list (its plaintext is in the history), to be sealed again after `/accept`.
   */
  private onSendRefusedChanged(rec: OutgoingRecord, info: IdentityInfo): void {
    const peer = canonName(rec.to);
    let pub: PublicIdentity;
    try {
      // Only the identity's own fields: the record also names the user.
      const { signKey, dhKey, idcert } = info;
      pub = publicIdentityFromJSON({ signKey, dhKey, idcert }, 'bad_key', 'identity_changed');
      verifyPublicIdentity(pub);
    } catch (err) {
      // Not a verified identity: nothing becomes pending; the envelope stays and is retried.
      this.deps.emit('error', {
        code: 'bad_key',
        message: `the relay reported an unverifiable new identity for ${rec.to}`,
        peer,
      });
      this.deps.outbox.inFlight.delete(rec.id);
      this.scheduleRetry();
      void err;
      return;
    }
    const contact = this.deps.contacts.get(peer);
    const text = this.deps.store.message(peer, rec.id, 'out');
    const inner = this.deps.store.groups.sealedInner(rec.id);
    this.deps.tx(() => {
      if (contact) this.deps.contacts.recordChange(info.user, pub);
      this.deps.outbox.remove(rec.id);
      if (inner) {
        // A group message of section 10.1: it waits, like a text, to be sealed after `/accept`.
        this.deps.store.groups.forgetSealedInner(rec.id);
        this.deps.outbox.keepText({
          id: rec.id,
          peer,
          peerName: inner.peerName,
          body: '',
          ts: this.deps.now(),
          inner: inner.inner,
        });
      }
      if (text) {
        this.deps.outbox.keepText({
          id: text.id,
          peer,
          peerName: text.peerName,
          body: text.body,
          ts: text.ts,
        });
      }
    });
    this.deps.outbox.inFlight.delete(rec.id);
    const c = this.deps.contacts.get(peer);
    if (c?.state !== 'changed') return;
    this.deps.emit('contact', { name: c.name, state: 'changed' });
    this.deps.emit('error', {
      code: 'identity_changed',
      message: `the safety number with ${c.name} changed: your message waits; the new safety number is ${this.deps.contacts.safetyNumber(peer)}: compare it with /verify ${c.name}, then /accept ${c.name}`,
      peer,
    });
  }

  /** Texts that can never be delivered: state `failed`, one receipt and one error for them. */
  private failText(peer: string, ids: readonly string[], why: string): void {
    const failed = ids.filter((id) => this.deps.store.setState(peer, id, 'failed'));
    if (!failed.length) return;
    this.deps.emit('receipt', { peer, ids: failed, state: 'failed' });
    this.deps.emit('error', { code: 'unknown_user', message: `not delivered: ${why}`, peer });
  }

  /** The relay refused a `send` (`o` request or an `identity_changed` naming the id). */
  refused(m: Extract<RelayMessage, { t: 'error' }>): void {
    const id = m.id ?? m.rid!.slice(1);
    this.deps.outbox.inFlight.delete(id);
    const rec = this.deps.store.outgoing(id);
    if (rec && m.code === 'identity_changed' && m.identity) {
      this.onSendRefusedChanged(rec, m.identity);
      return;
    }
    if (rec && m.code === 'unknown_user') {
      // Final for this text (CLIENT-API item 1): it leaves the outbox, is marked failed, one error.
      this.deps.outbox.remove(id);
      this.deps.store.groups.forgetSealedInner(id);
      this.failText(canonName(rec.to), [id], m.message);
      return;
    }
    // Kept in the outbox: retried later, never dropped.
    if (rec) this.scheduleRetry();
    this.deps.emit('error', { code: m.code, message: m.message, peer: rec ? canonName(rec.to) : undefined });
  }

  /**
   * Stores a text for `to` and sends it as soon as it can (now, or after reconnecting). The
   * message is in the history with state `sending` when this returns.
   */
  send(to: string, body: string): ChatMessage {
    checkName(to);
    if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) {
      throw new ChatError('too_large', `a message holds at most ${MAX_BODY_BYTES / 1024} KiB of text`);
    }
    if (body.length === 0) throw new ChatError('bad_message', 'an empty message');
    const peer = canonName(to);
    if (peer === this.deps.canon) throw new ChatError('bad_name', 'you cannot send a message to yourself');
    // To a contact whose identity changed, the text is kept and sealed after `/accept`
    // (CLIENT-API item 6): nothing typed is lost, and nothing goes to the old identity.
    const contact = this.deps.contacts.get(peer);
    const now = this.deps.now();
    const msg: ChatMessage = {
      id: toHex(randomBytes(16)),
      peer,
      peerName: contact?.name ?? this.deps.onlineName(peer) ?? to,
      direction: 'out',
      body,
      ts: now,
      localTs: now,
      state: 'sending',
    };
    const text: UnsentText = { id: msg.id, peer, peerName: msg.peerName, body, ts: now };
    let sealFailed: ChatError | undefined;
    this.deps.tx(() => {
      this.deps.store.addMessage(msg);
      // With a session and nothing older waiting for this contact, the text is sealed and stored
      // in the same transaction (one disk sync per message); otherwise it waits, in order.
      if (
        contact?.state !== 'changed' &&
        !this.deps.outbox.hasTexts(peer) &&
        this.deps.e2e.hasSession(peer)
      ) {
        try {
          this.deps.tx(() => this.seal(peer, text));
          return;
        } catch (err) {
          // The text is kept (below) and sealed by a later flush; the failure is shown then.
          if (!isChatError(err, 'storage_failed') && !isChatError(err, 'corrupt_store')) throw err;
          sealFailed = err;
        }
      }
      this.deps.outbox.keepText(text);
    });
    if (sealFailed) {
      this.deps.log.error({ code: sealFailed.code }, 'sealing failed');
      this.deps.emit('error', {
        code: sealFailed.code,
        message: `${sealFailed.message}; the message waits and is sent again shortly`,
        peer,
      });
      this.scheduleRetry();
    }
    this.deps.reopen(peer);
    this.deps.log.debug({ to: peer }, 'message stored for sending');
    void this.flush();
    return msg;
  }

  /** Encrypts and sends what waits, once online. One flush at a time; a new request reruns it. */
  async flush(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.flushAgain = false;
        if (!this.deps.online()) break;
        await this.encryptUnsent();
        // Each stored envelope goes once per connection; one unanswered is resent after a reconnect.
        // A bounded window, oldest first: what is in flight is the head of the outbox, so reading
        // twice the window covers it and what comes next (O(window), not O(outbox)).
        for (const rec of this.deps.outbox.due(this.window)) this.transmit(rec.id, rec.to, rec.envelope);
        if (this.deps.outbox.waitingPeers().length === 0) this.retryFlushDelay = 0;
      } while (this.flushAgain);
      if (this.deps.online()) this.deps.groupFlush();
    } catch (err) {
      // Nothing is lost (the text waits as unsent or in the outbox), but it must not wait silently.
      const code = isChatError(err) ? err.code : 'internal';
      this.deps.log.error({ code }, 'flush failed');
      this.deps.emit('error', {
        code,
        message: `${isChatError(err) ? err.message : 'sending failed'}; what waits is sent again shortly`,
      });
      this.scheduleRetry();
    } finally {
      this.flushing = false;
    }
  }

  private async encryptUnsent(): Promise<void> {
    for (const peer of this.deps.outbox.waitingPeers()) {
      // Held until the user accepts the new identity: never sealed for the old one.
      if (this.deps.contacts.get(peer)?.state === 'changed') continue;
      if (!this.deps.e2e.hasSession(peer)) {
        // A fetch for this peer failed: its texts wait for the scheduled retry (scheduleRetry).
        // Flushes run one at a time (flush), so a fetch is never under way twice for a peer.
        if (this.fetchHeld.has(peer)) continue;
      }
      try {
        if (!this.deps.e2e.hasSession(peer)) {
          const m = await this.deps.request({ t: 'keys.fetch', user: peer }, 'keys.bundle');
          // Issue 9, point 4: a bundle counts only for the name that was asked for.
          if (canonName(m.user) !== peer) {
            throw new ChatError('bad_message', `the relay answered with keys of ${m.user} for ${peer}`);
          }
          this.deps.e2e.startSession(m.user, preKeyBundleFromJSON(m));
          this.deps.watch([m.user]);
          this.deps.emit('contact', {
            name: m.user,
            state: this.deps.contacts.get(peer)?.state ?? 'unverified',
          });
        }
      } catch (err) {
        const e = isChatError(err) ? err : new ChatError('internal', 'could not start a session');
        if (e.code === 'connection_closed') return;
        // `unknown_user` also says "has published no keys yet" (a user who may do so any moment):
        // final only for a name nobody registered.
        if (e.code === 'unknown_user' && !(await this.isRegistered(peer))) {
          const ids = this.deps.outbox.textsFor(peer).map((u) => u.id);
          this.deps.tx(() => {
            for (const id of ids) this.deps.outbox.dropText(peer, id);
          });
          this.failText(peer, ids, e.message);
          continue;
        }
        this.deps.log.warn({ code: e.code, peer }, 'cannot start a session');
        // A changed identity holds the texts until `/accept` (the contact is marked changed, so
        // flushes skip it), and is told each time; any other failure holds them until the retry.
        const changed = e.code === 'identity_changed';
        if (changed) {
          const c = this.deps.contacts.get(peer);
          this.deps.emit('contact', { name: c?.name ?? peer, state: 'changed' });
        }
        // Once per peer and reason, not once per typed line or per retry.
        if (changed || this.toldWaiting.get(peer) !== e.code) {
          if (!changed) this.toldWaiting.set(peer, e.code);
          this.deps.emit('error', {
            code: e.code,
            message: `${e.message}; the message waits and is retried`,
            peer,
          });
        }
        // Nothing typed is dropped: a user who has not published keys yet may do so any moment.
        // Until the retry, flushes (one per typed line) leave this peer's texts unsent.
        if (!changed) this.fetchHeld.add(peer);
        this.scheduleRetry();
        continue;
      }
      this.fetchHeld.delete(peer);
      this.toldWaiting.delete(peer);
      for (const u of this.deps.outbox.textsFor(peer)) {
        this.deps.tx(() => {
          this.seal(peer, u);
          this.deps.outbox.dropText(peer, u.id);
        });
      }
    }
  }

  /**
   * A pairwise group inner message (section 10.1) for `peer`: stored like a text not sealed yet,
   * after what already waits for them, and sealed by the next flush (after a `keys.fetch` when
   * there is no session). Call it in the transaction that made it necessary; returns the id the
   * envelope keeps in the outbox.
   */
  queueInner(peer: string, peerName: string, inner: GroupInner): string {
    const id = toHex(randomBytes(16));
    this.deps.outbox.keepText({
      id,
      peer,
      peerName,
      body: '',
      ts: this.deps.now(),
      inner: groupInnerToText(inner),
    });
    return id;
  }

  /** Encrypts a text into the outbox; the sending chain's step is stored with it (section 8). */
  private seal(peer: string, u: UnsentText): void {
    const inner =
      u.inner !== undefined
        ? groupInnerFromText(u.inner)
        : { kind: 'text' as const, id: u.id, ts: u.ts, body: u.body };
    this.deps.e2e.encrypt(peer, inner, (envelope) => {
      if (u.inner !== undefined) this.deps.store.groups.keepSealedInner(u.id, peer, u.peerName, u.inner);
      this.deps.outbox.queue({ id: u.id, to: u.peerName, envelope, createdAt: this.deps.now() });
    });
  }

  /**
   * `peer` came online (presence): a fetch held since a failure may go again now, before the
   * retry, since they publish their keys when they log in.
   */
  cameOnline(peer: string): void {
    this.fetchHeld.delete(peer);
  }

  /** Whether `peer` is registered at the relay (a `list`); true when that cannot be told. */
  private async isRegistered(peer: string): Promise<boolean> {
    try {
      return (await this.deps.list()).some((u) => canonName(u.name) === peer);
    } catch {
      // Unknown (offline, refused): assume registered, so the text waits and is retried.
      return true;
    }
  }

  /** Retries a flush later (a missing bundle, a rate limit), backing off up to a minute. */
  private scheduleRetry(): void {
    if (this.retryFlushTimer) return;
    this.retryFlushDelay = Math.min(60_000, this.retryFlushDelay * 2 || 2000);
    this.retryFlushTimer = setTimeout(() => {
      this.retryFlushTimer = undefined;
      // The retry period is over: each held peer gets one fetch again.
      this.fetchHeld.clear();
      void this.flush();
    }, this.retryFlushDelay);
    this.retryFlushTimer.unref();
  }

  /** Sends stored envelope bytes; a resend sends the same bytes, never re-encrypts (section 8). */
  private transmit(id: string, to: string, envelope: Uint8Array): void {
    if (!this.deps.connected()) return;
    this.deps.outbox.inFlight.add(id);
    // `for`: the identity it was sealed for, so the relay can refuse a stale one (section 7.1).
    const pinned = this.deps.contacts.get(canonName(to));
    this.deps.out({
      t: 'send',
      rid: `o${id}`,
      id,
      to,
      env: toBase64(envelope),
      ...(pinned ? { for: toBase64(pinned.signKey) } : {}),
    });
  }

  /** Outbox envelopes in flight at most: ours, and what the relay's burst allows. */
  private get window(): number {
    return Math.min(SEND_WINDOW, this.deps.pacerWindow());
  }

  /**
   * The relay took an envelope. The `sent` answers read in one turn leave the outbox and move
   * their texts forward in one transaction; until it commits they are still in the outbox, and a
   * crash only makes them go again with the same bytes (the relay and the receiver drop repeats).
   */
  sent(id: string, status: SentStatus): void {
    // Still counted in flight until `storeSent` removes it, so a flush in between cannot resend it.
    if (!this.deps.outbox.inFlight.has(id)) return;
    this.sentBatch.push({ id, status });
    if (this.sentBatch.length === 1) setImmediate(() => this.storeSent());
  }

  private storeSent(): void {
    const batch = this.sentBatch.splice(0);
    const receipts: { peer: string; id: string; state: 'queued' | 'sent' }[] = [];
    let keysTaken = false;
    try {
      this.deps.tx(() => {
        for (const { id, status } of batch) {
          const to = this.deps.outbox.recipient(id);
          this.deps.outbox.remove(id, status);
          // One of our sender key distributions: group messages under that key may go now.
          if (this.deps.store.groups.keyTaken(id)) keysTaken = true;
          this.deps.store.groups.forgetSealedInner(id);
          if (to === undefined) continue;
          const peer = canonName(to);
          const state = status === 'queued' ? 'queued' : 'sent';
          if (this.deps.store.setState(peer, id, state)) receipts.push({ peer, id, state });
        }
      });
    } catch (err) {
      if (!isChatError(err, 'storage_failed') && !isChatError(err, 'corrupt_store')) throw err;
      // Still in the outbox: sent again (same bytes) by the next flush, never lost.
      for (const { id } of batch) this.deps.outbox.inFlight.delete(id);
      this.deps.log.error({ code: err.code }, 'could not store what the relay took');
      this.deps.emit('error', { code: err.code, message: err.message });
      this.scheduleRetry();
      return;
    }
    for (const r of receipts) this.deps.emit('receipt', { peer: r.peer, ids: [r.id], state: r.state });
    if (this.deps.outbox.inFlight.size < this.window / 2 + 1) void this.flush();
    else if (keysTaken) this.deps.groupFlush();
  }

  /** Receipts and typing notices: end to end, stored in the outbox like texts (except typing). */
  sendControl(peer: string, inner: InnerMessage): void {
    if (inner.kind === 'receipt' && inner.of.length > RECEIPT_IDS_MAX) {
      for (let i = 0; i < inner.of.length; i += RECEIPT_IDS_MAX) {
        this.sendControl(peer, { ...inner, of: inner.of.slice(i, i + RECEIPT_IDS_MAX) });
      }
      return;
    }
    if (!this.deps.e2e.hasSession(peer)) return;
    const contact = this.deps.contacts.get(peer);
    if (contact?.state === 'changed') return;
    const id = toHex(randomBytes(16));
    const to = contact?.name ?? peer;
    if (inner.kind === 'typing') {
      if (!this.deps.online()) return;
      const env = this.deps.e2e.encrypt(peer, inner, () => undefined);
      this.deps.out({ t: 'send', rid: `t${id}`, id, to, env: toBase64(env) });
      return;
    }
    this.deps.e2e.encrypt(peer, inner, (envelope) =>
      this.deps.outbox.queue({ id, to, envelope, createdAt: this.deps.now() }),
    );
    void this.flush();
  }

  /** Stops the retry timer (the client is closing); it stays set, so nothing is scheduled again. */
  close(): void {
    if (this.retryFlushTimer) clearTimeout(this.retryFlushTimer);
  }
}
