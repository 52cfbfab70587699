/**
 * Cluster mode (issue 14, `--serve --cluster redis://... --relay-id ID`): several relays share one
 * Redis. The store (redis-store.ts) holds the directory, prekeys and queues; this file is what
 * makes the relays act as one:
 *
 * - Sessions: `{canon}:session` names the relay and connection holding a user (`ID/conn`), with a
 *   TTL refreshed on traffic. A login claims it in one script; the previous holder, if on another
 *   relay, is told on that relay's control channel and closes its connection with `replaced`.
 * - Delivery: the relay holding a user subscribes to the user's wake channel; the enqueue script
 *   publishes there, so `sent` says `delivered` exactly when some relay was listening. The woken
 *   relay reads the queue (the source of truth) with the usual window and `ack` path.
 * - Presence: a relay with at least one watcher of a name subscribes to its presence channel
 *   (once, whatever the number of watchers); a login or logout is published there, so it reaches
 *   each watching relay once, and each tells its own watchers.
 *
 * Pub/sub is fire and forget: a wake-up lost while a subscriber reconnects costs nothing, since
 * the relay re-reads every local queue when it is subscribed again (`resync`).
 */
import { ChatError } from '../../errors';
import { canonName } from '../../names';
import type { Logger } from '../../log';
import type { RedisRelayStore } from '../redis-store';
import { codeOf, type ClusterHooks, type RelayCluster, type Session } from '../session';
import type { NewEnvelope, QueueCaps } from '../store';

/** How long a session key lives without traffic (a killed relay's users are free after this). */
export const SESSION_TTL_MS = 90_000;
/** Traffic refreshes the TTL at most this often per connection (the client pings every 30 s). */
const REFRESH_EVERY_MS = SESSION_TTL_MS / 3;
/** Relay ids: they appear in key values and channel names. */
export const RELAY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const RELAY_ID_RULE = 'a relay id is 1 to 64 of A-Z a-z 0-9 _ . -';

interface Held {
  readonly owner: string;
  refreshedAt: number;
  unsubscribe: Promise<(() => Promise<void>) | undefined> | undefined;
  gone: boolean;
}

export class RedisCluster implements RelayCluster {
  private hooks: ClusterHooks | undefined;
  private readonly held = new Map<Session, Held>();
  /** Presence subscriptions: canon → the unsubscribe to come. */
  private readonly watched = new Map<string, Promise<() => Promise<void>>>();
  private unsubscribeControl: (() => Promise<void>) | undefined;

  constructor(
    private readonly store: RedisRelayStore,
    readonly relayId: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    if (!RELAY_ID_PATTERN.test(relayId)) throw new ChatError('bad_args', RELAY_ID_RULE);
  }

  async attach(hooks: ClusterHooks): Promise<void> {
    this.hooks = hooks;
    this.store.onResubscribed(() => hooks.resync());
    this.unsubscribeControl = await this.store.subscribe(this.store.controlChannel(this.relayId), (m) =>
      this.onControl(m),
    );
  }

  private onControl(message: string): void {
    // `replace CANON CONN`: written by another relay of this cluster (below).
    const m = /^replace ([a-z0-9_.-]{1,32}) (\d{1,15})$/.exec(message);
    if (!m) {
      this.log.warn({ code: 'bad_message' }, 'unknown message on the cluster control channel');
      return;
    }
    this.hooks?.replace(m[1], Number(m[2]));
  }

  private ownerOf(session: Session): string {
    return `${this.relayId}/${session.conn}`;
  }

  async login(session: Session): Promise<void> {
    const canon = session.user.canon;
    const owner = this.ownerOf(session);
    const entry: Held = { owner, refreshedAt: this.now(), unsubscribe: undefined, gone: false };
    this.held.set(session, entry);
    // Subscribed before the claim and before the first queue read: no wake-up is missed.
    entry.unsubscribe = this.store.subscribeWake(canon, (id) => {
      if (!entry.gone) this.hooks?.wake(canon, id);
    });
    await entry.unsubscribe;
    const prev = await this.store.claimSession(canon, owner, SESSION_TTL_MS);
    // Closed while we claimed: logout() ran before the key was ours, so give it up here.
    if (entry.gone) await this.store.releaseSession(canon, owner);
    if (prev === undefined || entry.gone) return;
    const slash = prev.lastIndexOf('/');
    const relay = prev.slice(0, slash);
    // The same relay: login() in relay.ts closes the older connection itself.
    if (relay === this.relayId) return;
    await this.store.publish(this.store.controlChannel(relay), `replace ${canon} ${prev.slice(slash + 1)}`);
  }

  async logout(session: Session, holder: boolean): Promise<void> {
    const entry = this.held.get(session);
    if (!entry) return;
    this.held.delete(session);
    entry.gone = true;
    // A subscription that failed has nothing to undo (login() reported that failure).
    const unsubscribe = await entry.unsubscribe?.catch(() => undefined);
    if (unsubscribe) {
      await unsubscribe().catch((err: unknown) =>
        this.log.warn({ code: codeOf(err) }, 'could not unsubscribe a wake channel'),
      );
    }
    if (holder && (await this.store.releaseSession(session.user.canon, entry.owner))) {
      this.announce(session.user.name, false);
    }
  }

  touch(session: Session): void {
    const entry = this.held.get(session);
    const now = this.now();
    if (!entry || now - entry.refreshedAt < REFRESH_EVERY_MS) return;
    entry.refreshedAt = now;
    void this.refresh(session, entry).catch((err: unknown) => {
      // Retried on the next traffic; the key lives SESSION_TTL_MS, three refresh periods.
      entry.refreshedAt = 0;
      this.log.warn({ code: codeOf(err) }, 'could not refresh a cluster session');
    });
  }

  private async refresh(session: Session, entry: Held): Promise<void> {
    const canon = session.user.canon;
    if ((await this.store.refreshSession(canon, entry.owner, SESSION_TTL_MS)) || entry.gone) return;
    // Expired (Redis was away longer than the TTL): this connection claims it again. Held by a
    // newer login whose control message did not reach us: this one is replaced.
    const holder = await this.store.sessionOwner(canon);
    if (holder === undefined) await this.store.claimSession(canon, entry.owner, SESSION_TTL_MS);
    else if (holder !== entry.owner) this.hooks?.replace(canon, session.conn);
  }

  async enqueue(env: NewEnvelope, caps: QueueCaps) {
    const o = await this.store.enqueueAndWake(env, caps);
    if (o.result !== 'duplicate') return { result: o.result, delivered: o.listeners > 0 };
    // A resend of a stored envelope: it waits for whichever relay holds the recipient.
    const [held] = await this.store.sessionsHeld([env.to]);
    return { result: o.result, delivered: held };
  }

  online(canons: readonly string[]): Promise<boolean[]> {
    return this.store.sessionsHeld(canons);
  }

  async watch(canon: string): Promise<void> {
    let sub = this.watched.get(canon);
    if (!sub) {
      sub = this.store.subscribe(this.store.presenceChannel(canon), (m) => this.onPresence(m));
      this.watched.set(canon, sub);
      // A failed subscription is not kept: the next watch tries again.
      sub.catch(() => {
        if (this.watched.get(canon) === sub) this.watched.delete(canon);
      });
    }
    await sub;
  }

  unwatch(canon: string): void {
    const sub = this.watched.get(canon);
    if (!sub) return;
    this.watched.delete(canon);
    sub
      .then((unsubscribe) => unsubscribe())
      .catch((err: unknown) => this.log.warn({ code: codeOf(err) }, 'could not unsubscribe presence'));
  }

  private onPresence(message: string): void {
    // `1 RELAY NAME` (online) or `0 RELAY NAME`: this relay told its own watchers already.
    const m = /^([01]) ([A-Za-z0-9_.-]{1,64}) ([A-Za-z0-9_.-]{1,32})$/.exec(message);
    if (!m) {
      this.log.warn({ code: 'bad_message' }, 'unknown message on a cluster presence channel');
      return;
    }
    if (m[2] !== this.relayId) this.hooks?.presence(m[3], m[1] === '1');
  }

  announce(user: string, online: boolean): void {
    const channel = this.store.presenceChannel(canonName(user));
    this.store
      .publish(channel, `${online ? 1 : 0} ${this.relayId} ${user}`)
      .catch((err: unknown) => this.log.warn({ code: codeOf(err) }, 'could not publish presence'));
  }

  async close(): Promise<void> {
    await this.unsubscribeControl?.().catch((err: unknown) =>
      this.log.warn({ code: codeOf(err) }, 'could not unsubscribe the control channel'),
    );
  }
}
