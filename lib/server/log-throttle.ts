/**
 * Repeated log lines are coalesced (issue 10, defect 6: a refused request per line let one
 * connection write 3.3 MB/s of log): the first line of a kind is written, the next ones of the
 * same kind within the window are counted, and one line "N more like this in 10 s" closes it.
 */
import type { Logger } from 'pino';

export const LOG_WINDOW_MS = 10_000;

type Level = 'info' | 'warn' | 'error';

export class LogThrottle {
  private readonly windows = new Map<string, { n: number; level: Level; obj: object; msg: string }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly windowMs = LOG_WINDOW_MS,
  ) {}

  /** Logs `msg` unless a line of the same `kind` was logged within the window. */
  write(level: Level, kind: string, obj: object, msg: string): void {
    const w = this.windows.get(kind);
    if (w) {
      w.n++;
      return;
    }
    this.log[level](obj, msg);
    this.windows.set(kind, { n: 0, level, obj, msg });
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.windowMs);
      this.timer.unref();
    }
  }

  /** Closes every open window with its count. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const windows = [...this.windows.values()];
    this.windows.clear();
    for (const w of windows) {
      if (w.n > 0) {
        this.log[w.level](
          { ...w.obj, repeated: w.n },
          `${w.msg} (${w.n} more like this in ${this.windowMs / 1000} s)`,
        );
      }
    }
  }
}
