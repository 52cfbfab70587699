/**
 * Carries out what the reconnect state machine (reconnect.ts) answers: the retry timer, and the
 * dial, trust question, state and reports through callbacks. Its dependencies are passed in.
 */
import type { ConnectionState } from './types';
import {
  RECONNECT_START,
  reconnectStep,
  type Reconnect,
  type ReconnectEvent,
  type ReconnectPolicy,
} from './reconnect';

export interface ReconnectDriverDeps {
  readonly policy: ReconnectPolicy;
  readonly now: () => number;
  readonly setState: (s: ConnectionState) => void;
  /** Dial the relay now. */
  readonly dial: () => void;
  /** Ask the user whether to trust the relay's unknown key. */
  readonly askTrust: () => void;
  /** Something the user should see (a permanent refusal, a reconnect problem). */
  readonly report: (code: string, message: string) => void;
}

export class ReconnectDriver {
  private state: Reconnect = RECONNECT_START;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ReconnectDriverDeps) {}

  private get stepDeps() {
    return { policy: this.deps.policy, jitter: Math.random, now: this.deps.now };
  }

  get stopped(): boolean {
    return this.state.phase === 'stopped';
  }

  get attempt(): number {
    return this.state.attempt;
  }

  /** Feeds the reconnect state machine (reconnect.ts) and carries out what it answers. */
  step(e: ReconnectEvent): void {
    const r = reconnectStep(this.state, e, this.stepDeps);
    this.state = r.state;
    if (r.connection) this.deps.setState(r.connection);
    for (const a of r.actions) {
      switch (a.t) {
        case 'dial':
          this.deps.dial();
          break;
        case 'wait':
          if (this.timer) clearTimeout(this.timer);
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.step({ t: 'timer' });
          }, a.delayMs);
          break;
        case 'ask-trust':
          this.deps.askTrust();
          break;
        case 'report':
          this.deps.report(a.code, a.message);
          break;
        default: {
          const never: never = a;
          void never;
        }
      }
    }
  }

  /** Stopped now (the state `closed` is shown by the caller once the connection has ended). */
  close(): void {
    this.state = reconnectStep(this.state, { t: 'close' }, this.stepDeps).state;
    if (this.timer) clearTimeout(this.timer);
  }
}
