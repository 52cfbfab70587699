/**
 * The config file (TOML, read with smol-toml): `--config FILE`, else
 * `$XDG_CONFIG_HOME/chatsecure/config.toml`. Its keys are the long option names
 * (`server = "127.0.0.1:5000"`, `user = "Adam"`), plus a `[limits]` table for the relay. The
 * command line wins over the file, the file over the defaults (lib/cli.ts merges them).
 *
 * A bad file is one sentence naming the file, the line and the key (`bad_args`, exit status 2):
 * the file is checked whole before anything runs, so a typo never starts a relay half configured.
 */
import * as fs from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { ChatError } from './errors';
import { DEFAULT_PORT, parseHostPort } from './host-port';
import { isValidName } from './names';
import { EMOJI_OPTIONS, THEMES } from './commands/options';
import { DEFAULT_LIMITS, type RelayLimits } from './server/relay';
import { RELAY_ID_PATTERN } from './server/redis/cluster';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Who reads a key: the relay (`--serve`), the client (`--user`), or both. */
export type ConfigScope = 'relay' | 'client' | 'both';

interface KeySpec {
  readonly type: 'string' | 'boolean' | 'integer';
  readonly scope: ConfigScope;
  /** Throws a sentence (without the file and line, which the caller adds) when the value is wrong. */
  readonly check?: (v: never) => void;
}

function oneOf(choices: readonly string[]) {
  return (v: string) => {
    if (!choices.includes(v)) throw new Error(`must be one of ${choices.join(', ')}, not "${v}"`);
  };
}

function hostPort(what: string, minPort = 1) {
  return (v: string) => {
    try {
      parseHostPort(v, what, what === 'server' ? DEFAULT_PORT : null, minPort);
    } catch {
      throw new Error(`must be HOST:PORT, not "${v}"`);
    }
  };
}

/**
 * What is wrong with a `--cluster` URL, or undefined: `redis://HOST:PORT[/DB]` (or `rediss://`,
 * with `user:password@` if the server wants it). The sentence never repeats the URL, which may
 * hold a password.
 */
export function redisUrlProblem(v: string): string | undefined {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return 'must be redis://HOST:PORT[/DB]';
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return 'must start with redis:// or rediss://';
  if (!u.hostname) return 'must name a host: redis://HOST:PORT[/DB]';
  if (u.pathname !== '' && u.pathname !== '/' && !/^\/\d{1,2}$/.test(u.pathname))
    return 'may end only with /DB, a database number';
  if (u.search || u.hash) return 'must be redis://HOST:PORT[/DB], without ? or #';
  return undefined;
}

/** The URL with its password, if any, replaced by `***` (for `config --print` and the banner). */
export function redactUrl(v: string): string {
  try {
    const u = new URL(v);
    if (!u.password) return v;
    u.password = '***';
    return u.toString();
  } catch {
    return '[not a URL]';
  }
}

function fingerprintShape(v: string): void {
  if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(v))
    throw new Error('must look like SHA256: followed by 43 base64 characters');
}

/** Every key the file may hold, by its long option name. */
export const CONFIG_KEYS: Readonly<Record<string, KeySpec>> = {
  'data-dir': { type: 'string', scope: 'both' },
  'log-file': { type: 'string', scope: 'both' },
  'log-level': { type: 'string', scope: 'both', check: oneOf(LOG_LEVELS) },
  debug: { type: 'boolean', scope: 'both' },
  host: { type: 'string', scope: 'relay' },
  port: {
    type: 'integer',
    scope: 'relay',
    check: (v: number) => {
      if (v < 0 || v > 65535) throw new Error(`must be a whole number from 0 to 65535, not ${v}`);
    },
  },
  metrics: { type: 'string', scope: 'relay', check: hostPort('metrics', 0) },
  cluster: {
    type: 'string',
    scope: 'relay',
    check: (v: string) => {
      const why = redisUrlProblem(v);
      if (why) throw new Error(why);
    },
  },
  'relay-id': {
    type: 'string',
    scope: 'relay',
    check: (v: string) => {
      if (!RELAY_ID_PATTERN.test(v)) throw new Error('must be 1 to 64 of A-Z a-z 0-9 _ . -');
    },
  },
  'relay-cert': { type: 'string', scope: 'relay' },
  user: {
    type: 'string',
    scope: 'client',
    check: (v: string) => {
      if (!isValidName(v)) throw new Error(`"${v}" is not a valid name`);
    },
  },
  server: { type: 'string', scope: 'client', check: hostPort('server') },
  plain: { type: 'boolean', scope: 'client' },
  'accept-new-server': { type: 'boolean', scope: 'client' },
  'server-fingerprint': { type: 'string', scope: 'client', check: fingerprintShape },
  /** A relay authority's fingerprint (docs/protocol.md 6.1). */
  'trust-authority': { type: 'string', scope: 'client', check: fingerprintShape },
  'passphrase-file': { type: 'string', scope: 'client' },
  'read-receipts': { type: 'boolean', scope: 'client' },
  bell: { type: 'boolean', scope: 'client' },
  notify: { type: 'boolean', scope: 'client' },
  'notify-command': { type: 'string', scope: 'client' },
  theme: { type: 'string', scope: 'client', check: oneOf(THEMES) },
  emoji: { type: 'string', scope: 'client', check: oneOf(EMOJI_OPTIONS) },
  mouse: { type: 'boolean', scope: 'client' },
};

/** The `[limits]` table: RelayLimits by kebab-case name (`requests-per-second = 50`). */
export const LIMIT_KEYS: Readonly<Record<string, keyof RelayLimits>> = Object.fromEntries(
  (Object.keys(DEFAULT_LIMITS) as (keyof RelayLimits)[]).map((k) => [
    k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
    k,
  ]),
);

export interface ConfigFile {
  /** The file read, or undefined when there was none (the default path, absent). */
  readonly file: string | undefined;
  /** Top-level values by long option name, checked. */
  readonly values: Readonly<Record<string, string | number | boolean>>;
  readonly limits: Partial<RelayLimits>;
  /** The line each key is on (1-based), for `config --print` and for later sentences. */
  readonly lines: Readonly<Record<string, number>>;
}

export const NO_CONFIG: ConfigFile = { file: undefined, values: {}, limits: {}, lines: {} };

function bad(file: string, line: number | undefined, sentence: string): ChatError {
  return new ChatError(
    'bad_args',
    `config file ${file}${line ? ` line ${line}` : ''}: ${sentence}`,
    'config',
  );
}

/** The line of `key` in `table` (top level when undefined): a plain scan, enough for the keys we accept. */
function lineOf(text: string, key: string, table?: string): number | undefined {
  let current: string | undefined;
  const lines = text.split(/\r?\n/);
  const esc = key.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  const re = new RegExp(`^\\s*(?:${esc}|"${esc}"|'${esc}')\\s*=`);
  for (let i = 0; i < lines.length; i++) {
    const header = /^\s*\[\s*([^\]]+?)\s*\]/.exec(lines[i]);
    if (header) current = header[1];
    else if (current === table && re.test(lines[i])) return i + 1;
  }
  return undefined;
}

function typeName(t: KeySpec['type']): string {
  return t === 'integer' ? 'a whole number' : t === 'boolean' ? 'true or false' : 'a string in quotes';
}

function checkType(v: unknown, t: KeySpec['type']): boolean {
  if (t === 'integer') return typeof v === 'number' && Number.isInteger(v);
  return typeof v === t;
}

/** Parses and checks config text; `file` names it in sentences. */
export function parseConfig(text: string, file: string): ConfigFile {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const src = text.split(/\r?\n/)[err.line - 1] ?? '';
      const key = /^\s*["']?([A-Za-z0-9_.-]+)["']?\s*=/.exec(src)?.[1];
      const why = (err.message.split('\n')[0] || 'not valid TOML').replace(/^Invalid TOML document:\s*/, '');
      throw bad(file, err.line, `${key ? `key "${key}": ` : ''}not valid TOML (${why})`);
    }
    throw err;
  }
  const values: Record<string, string | number | boolean> = {};
  const limits: Partial<Record<keyof RelayLimits, number>> = {};
  const lines: Record<string, number> = {};
  for (const [key, v] of Object.entries(doc)) {
    const line = lineOf(text, key);
    if (key === 'limits') {
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        throw bad(file, line, 'key "limits" must be a table ([limits])');
      for (const [lk, lv] of Object.entries(v as Record<string, unknown>)) {
        const lline = lineOf(text, lk, 'limits');
        const field = LIMIT_KEYS[lk];
        if (!field)
          throw bad(file, lline, `unknown key "limits.${lk}" (known: ${Object.keys(LIMIT_KEYS).join(', ')})`);
        if (typeof lv !== 'number' || !Number.isInteger(lv) || lv < 1)
          throw bad(file, lline, `key "limits.${lk}" must be a whole number of at least 1`);
        limits[field] = lv;
        if (lline) lines[`limits.${lk}`] = lline;
      }
      continue;
    }
    const spec = CONFIG_KEYS[key];
    if (!spec)
      throw bad(file, line, `unknown key "${key}" (the keys are the long option names, as in --help)`);
    if (!checkType(v, spec.type)) throw bad(file, line, `key "${key}" must be ${typeName(spec.type)}`);
    try {
      spec.check?.(v as never);
    } catch (err) {
      throw bad(file, line, `key "${key}" ${(err as Error).message}`);
    }
    values[key] = v as string | number | boolean;
    if (line) lines[key] = line;
  }
  return { file, values, limits, lines };
}

/**
 * Reads the config file. `explicit` (from `--config`) must exist; the default path may be absent,
 * which is no config at all. Unreadable is `bad_args` too: the user named or placed that file.
 */
export function loadConfig(file: string, explicit: boolean): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    if (code === 'ENOENT' && !explicit) return NO_CONFIG;
    throw new ChatError(
      'bad_args',
      code === 'ENOENT'
        ? `there is no config file at ${file}`
        : `cannot read the config file ${file} (${code})`,
      'config',
    );
  }
  return parseConfig(text, file);
}
