/**
 * Log viewer (F12): this client's own log file, pretty-printed, for the inspection that
 * `chatsecure logs` gives outside the UI. Only the tail is read, so a large log cannot stall
 * the screen. The log never holds a key, a passphrase or a body (DESIGN.md), so showing it is safe.
 */
import * as fs from 'node:fs';

/** The tail of the log that is read: plenty for a session, bounded for a long-lived file. */
export const LOG_VIEW_MAX_BYTES = 256 * 1024;

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** pino's own fields, shown in the line's head instead of as key=value. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'v']);

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function clock(t: unknown): string {
  if (typeof t !== 'number') return '--:--:--';
  const d = new Date(t);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

function value(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) ? JSON.stringify(v) : v;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    // Errors are logged as { message, code }: the message is what a person wants.
    if (typeof o.message === 'string')
      return JSON.stringify(typeof o.code === 'string' ? `${o.code}: ${o.message}` : o.message);
    return JSON.stringify(v);
  }
  return String(v);
}

/** One pino JSON line as `date time LEVEL message key=value …`; other lines as they are. */
export function prettyLogLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (o === null || typeof o !== 'object') return line;
  const level = LEVELS[o.level as number] ?? String(o.level ?? '');
  const extra = Object.entries(o)
    .filter(([k]) => !HEAD_FIELDS.has(k))
    .map(([k, v]) => `${k}=${value(v)}`);
  return [clock(o.time), level.padEnd(5), String(o.msg ?? ''), ...extra].join(' ').trimEnd();
}

/** The viewer's text: the last lines of `file`, pretty. */
export function readLogForViewer(file: string, maxBytes = LOG_VIEW_MAX_BYTES): string {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    fs.readSync(fd, buf, 0, buf.length, start);
    let lines = buf.toString('utf8').split('\n');
    if (start > 0) lines = lines.slice(1); // the first line was cut in the middle
    const pretty = lines.filter((l) => l.trim() !== '').map(prettyLogLine);
    if (pretty.length === 0) return `${file} is empty.`;
    return (
      (start > 0 ? `(showing the last ${Math.round(maxBytes / 1024)} KiB of ${file})\n` : `${file}\n`) +
      pretty.join('\n')
    );
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === 'ENOENT'
      ? `No log yet: ${file} does not exist.`
      : `Cannot read ${file} (${code ?? 'error'}).`;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
