/** `HOST:PORT` as the command line and the config file write it. */
import { ChatError } from './errors';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 5000;

/**
 * `host:port`, `[v6]:port`, or a bare host (port `defaultPort`, 5000 unless said; `null`: the port is required). `what` names
 * the option in the sentence (`--server`, `--metrics`); `minPort` 0 admits "any free port".
 */
export function parseHostPort(
  s: string,
  what = '--server',
  defaultPort: number | null = DEFAULT_PORT,
  minPort = 1,
): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(s);
  if (!m || (m[3] === undefined && defaultPort === null))
    throw new ChatError('bad_args', `${what} must be HOST:PORT, not "${s}"`);
  const port = m[3] === undefined ? (defaultPort ?? 0) : Number(m[3]);
  if (!(port >= minPort && port <= 65535))
    throw new ChatError('bad_args', `${what} has a port out of range: ${m[3]}`);
  return { host: m[1] ?? m[2], port };
}

/** `host:port`, with brackets around an IPv6 address. */
export function formatHostPort(hp: { host: string; port: number }): string {
  return `${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
}
