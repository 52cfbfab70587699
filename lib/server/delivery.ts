/**
 * Delivery (docs/protocol.md section 7): what waits for a user is delivered oldest first, with at
 * most `deliveryWindow` envelopes unacknowledged. Live and queued deliveries share `pump`, so
 * order holds. A store failure during delivery is retried with backoff (defect 7), never left
 * waiting for the next `send` or `ack`.
 */
import { toBase64 } from '../crypto/primitives';
import type { RelayMessage } from '../net/messages';
import { codeOf, type RelayContext, type Session, windowOf } from './session';

/** First retry after a failed delivery read, doubling up to the second. */
export const RETRY_FIRST_MS = 100;
export const RETRY_MAX_MS = 30_000;

export class Delivery {
  constructor(private readonly ctx: RelayContext) {}

  /**
   * A just-stored envelope for an online user: sent at once when nothing older waits in the
   * store and the window has room (same order as `pump` would give), else left to `pump`.
   * `deliver` is the message as it goes out (built once by the caller).
   */
  deliverNew(canon: string, deliver: Extract<RelayMessage, { t: 'deliver' }>): void {
    const r = this.ctx.sessions.get(canon);
    if (!r || !r.channel.isOpen || r.inflight?.has(deliver.id)) return;
    if (!r.backlog && !r.pumping && (r.inflight?.size ?? 0) < this.ctx.limits.deliveryWindow) {
      windowOf(r).add(deliver.id, true);
      r.channel.send(deliver);
      this.ctx.observer?.count('delivered');
      return;
    }
    r.backlog = true;
    this.pumpLater(r);
  }

  /** An ack was committed: refill the window once half of it is free. */
  acked(session: Session): void {
    if (session.backlog && (session.inflight?.size ?? 0) <= this.ctx.limits.deliveryWindow / 2) {
      this.pumpLater(session);
    }
  }

  /** Runs `pump`; a failure is logged and retried with backoff while the connection is open. */
  pumpLater(session: Session): void {
    this.pump(session).then(
      () => {
        session.retryMs = RETRY_FIRST_MS;
      },
      (err: unknown) => {
        this.ctx.throttled.write(
          'error',
          `delivery failed:${codeOf(err)}`,
          { conn: session.conn, code: codeOf(err) },
          'delivery failed; retrying',
        );
        if (session.retry || !session.channel.isOpen) return;
        session.backlog = true;
        const delay = session.retryMs;
        session.retryMs = Math.min(RETRY_MAX_MS, delay * 2);
        session.retry = setTimeout(() => {
          session.retry = undefined;
          if (session.channel.isOpen) this.pumpLater(session);
        }, delay);
        session.retry.unref();
      },
    );
  }

  private async pump(session: Session): Promise<void> {
    if (session.pumping) {
      session.pumpAgain = true;
      return;
    }
    session.pumping = true;
    const window = this.ctx.limits.deliveryWindow;
    const inflight = windowOf(session);
    try {
      do {
        session.pumpAgain = false;
        const room = window - inflight.size;
        if (room <= 0 || !session.channel.isOpen) break;
        const limit = inflight.size + (session.acking?.size ?? 0) + room;
        // Cleared before the read: an envelope stored while we wait sets it again (deliverNew).
        session.backlog = false;
        let waiting;
        try {
          waiting = await this.ctx.store.pending(session.user.canon, limit);
        } catch (err) {
          session.backlog = true;
          throw err;
        }
        if (waiting.length >= limit) session.backlog = true;
        let sent = 0;
        for (const env of waiting) {
          if (inflight.has(env.id) || session.acking?.has(env.id)) continue;
          if (inflight.size >= window) {
            session.backlog = true;
            break;
          }
          inflight.add(env.id, true);
          session.channel.send({
            t: 'deliver',
            id: env.id,
            from: env.from,
            env: toBase64(env.env),
            ts: env.ts,
          });
          sent++;
        }
        this.ctx.observer?.count('delivered', sent);
      } while (session.pumpAgain);
    } finally {
      session.pumping = false;
    }
  }
}
