/**
 * Requests to the relay that wait for an answer: rid → pending promise, with a timeout. Pure
 * bookkeeping (no socket): the Client writes the message through the function it passes, and
 * hands every relay message with a rid to `answer`.
 */
import { ChatError } from '../errors';
import type { ClientMessage, RelayMessage, UserEntry } from '../net/messages';

/** A request the relay does not answer in this time fails (the connection is probably gone). */
export const REQUEST_TIMEOUT_MS = 15_000;

/** A request as the caller writes it: the rid is added by `Requests.open`. */
export type Request =
  Extract<ClientMessage, { rid: string }> extends infer T
    ? T extends unknown
      ? Omit<T, 'rid'>
      : never
    : never;

/** One answer to one copy of a `send.multi` (docs/protocol.md 10.5): `sent` or `error`, naming `user`. */
export type MultiAnswer = Extract<RelayMessage, { t: 'sent' }> | Extract<RelayMessage, { t: 'error' }>;

export type MultiRequest = Omit<Extract<ClientMessage, { t: 'send.multi' }>, 'rid'>;

interface Pending {
  readonly expect: RelayMessage['t'];
  /** A `send.multi`: the answers collected so far, one per recipient, until there are `expected`. */
  readonly multi?: { readonly expected: number; readonly answers: MultiAnswer[] };
  /** Pages of a `users` answer received so far (every page but the last has `more`). */
  readonly pages: UserEntry[];
  readonly resolve: (m: RelayMessage) => void;
  readonly reject: (e: ChatError) => void;
  readonly timer: NodeJS.Timeout;
}

export class Requests {
  private readonly pending = new Map<string, Pending>();
  private counter = 0;

  constructor(private readonly timeoutMs = REQUEST_TIMEOUT_MS) {}

  /**
   * A fresh rid. The prefix tells answers apart: `c` requests and pings, `w` presence.watch,
   * (`o` outbox sends and `t` typing use their message id).
   */
  nextRid(prefix = 'c'): string {
    return `${prefix}${++this.counter}`;
  }

  /** Sends `msg` with a new rid (through `send`) and resolves with the answer, or rejects. */
  open<T extends RelayMessage['t']>(
    msg: Request,
    expect: T,
    send: (m: ClientMessage) => void,
  ): Promise<Extract<RelayMessage, { t: T }>> {
    const rid = this.nextRid();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new ChatError('connection_closed', 'the relay did not answer in time'));
      }, this.timeoutMs);
      this.pending.set(rid, {
        expect,
        pages: [],
        resolve: resolve as (m: RelayMessage) => void,
        reject,
        timer,
      });
      send({ ...msg, rid } as ClientMessage);
    });
  }

  /**
   * Sends a `send.multi` with a new rid (prefix `g`) and resolves once the relay has answered every
   * recipient (`sent` or `error` with `user`, in the order of `to`). An `error` without `user` is
   * about the whole request and rejects it; so does the timeout (nothing is known then: the caller
   * sends the same request again, same id and bytes, and the relay answers copies already queued
   * `sent` without storing them twice).
   */
  openMulti(msg: MultiRequest, send: (m: ClientMessage) => void): Promise<MultiAnswer[]> {
    const rid = this.nextRid('g');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new ChatError('connection_closed', 'the relay did not answer in time'));
      }, this.timeoutMs);
      this.pending.set(rid, {
        expect: 'sent',
        pages: [],
        multi: { expected: msg.to.length, answers: [] },
        resolve: resolve as unknown as (m: RelayMessage) => void,
        reject,
        timer,
      });
      send({ ...msg, rid });
    });
  }

  /**
   * A relay message that answers a pending request: resolves it (an `error` rejects it; `users`
   * pages are collected until the last). True when it was an answer, consumed here.
   */
  answer(m: RelayMessage): boolean {
    const rid = 'rid' in m ? m.rid : undefined;
    if (rid === undefined || m.t === 'ping') return false;
    const p = this.pending.get(rid);
    if (!p) return false;
    if (p.multi) {
      if (m.t === 'sent' || (m.t === 'error' && m.user !== undefined)) {
        p.multi.answers.push(m);
        if (p.multi.answers.length < p.multi.expected) return true;
        this.pending.delete(rid);
        clearTimeout(p.timer);
        (p.resolve as unknown as (a: MultiAnswer[]) => void)(p.multi.answers);
        return true;
      }
      if (m.t !== 'error') return false;
    }
    if (m.t === 'users') {
      p.pages.push(...m.users);
      if (m.more) return true;
      m = { ...m, users: p.pages };
    }
    this.pending.delete(rid);
    clearTimeout(p.timer);
    if (m.t === 'error') p.reject(new ChatError(m.code as ChatError['code'], m.message));
    else p.resolve(m);
    return true;
  }

  /** The connection ended: every pending request fails with `err`. */
  failAll(err: ChatError): void {
    for (const [rid, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(rid);
      p.reject(err);
    }
  }
}
