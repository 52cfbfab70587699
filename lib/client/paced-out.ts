/**
 * The way out to the relay: every request is paced to the relay's announced limits (pacer.ts);
 * what waits for a token is queued in order and sent as tokens come. Acks and pongs are not
 * counted by the relay and go at once.
 */
import type { ClientMessage } from '../net/messages';
import type { Pacer } from './pacer';

/** What is needed of the connection: the channel's `send`. */
export interface Sink {
  send(msg: ClientMessage): void;
}

/** Recipients of a `send.multi` one request token covers at the relay (docs/protocol.md 10.5). */
export const RECIPIENTS_PER_TOKEN = 10;

/** What a request costs at the relay: one token, plus one per 10 `send.multi` recipients beyond the first. */
export function multiCost(msg: ClientMessage): number {
  return msg.t === 'send.multi' ? 1 + Math.floor((msg.to.length - 1) / RECIPIENTS_PER_TOKEN) : 1;
}

export class PacedOut {
  private readonly queue: ClientMessage[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** `sink`: the current connection, undefined while there is none (then nothing is sent). */
  constructor(
    private readonly pacer: Pacer,
    private readonly sink: () => Sink | undefined,
  ) {}

  /**
   * Every request goes through here: sent at once while the pacer has a token and nothing waits,
   * else queued in order and sent as tokens come (acks and pongs are not counted by the relay).
   */
  out(msg: ClientMessage): void {
    const channel = this.sink();
    if (!channel) return;
    if (msg.t === 'ack' || msg.t === 'pong') {
      channel.send(msg);
      return;
    }
    if (this.queue.length === 0 && this.pacer.take(multiCost(msg))) {
      channel.send(msg);
      return;
    }
    this.queue.push(msg);
    this.drain();
  }

  private drain(): void {
    if (this.timer) return;
    let channel = this.sink();
    while (this.queue.length && channel && this.pacer.take(multiCost(this.queue[0]))) {
      channel.send(this.queue.shift()!);
      channel = this.sink();
    }
    if (!this.queue.length || !this.sink()) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.drain();
      },
      this.pacer.waitMs(multiCost(this.queue[0])),
    );
  }

  /** The connection ended: what waited is dropped (requests fail, the outbox sends again). */
  clear(): void {
    this.queue.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The client is closing; the timer stays set, so nothing is scheduled again. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
