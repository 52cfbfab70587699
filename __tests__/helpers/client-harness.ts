/**
 * Real `Client` objects for tests: each with its own data dir, SQLite store, identity, log
 * file and known_servers, talking to a real relay over loopback.
 */
import * as path from 'node:path';
import { Client, type ClientOptions } from '../../lib/client/client';
import { loadOrCreateIdentity } from '../../lib/client/identity-store';
import { KnownServers } from '../../lib/client/known-servers';
import { openClientStore } from '../../lib/client/sqlite-store';
import { dbKeyPath } from '../../lib/client/secrets';
import { dbKeyExists, loadOrCreateDbKey } from '../../lib/db-key';
import type { ClientStore } from '../../lib/client/store';
import type { ChatMessage, ClientEvents } from '../../lib/client/types';
import { closeLogger, createLogger, type Logger } from '../../lib/log';
import type { RelayLimits } from '../../lib/server/relay';
import { openRelayStore } from '../../lib/server/sqlite-store';
import { startRelay, tempDir, waitFor, type TestRelay } from './relay-harness';

/** A real in-process relay on SQLite whose store the test holds (to play a relay that replays or injects). */
export async function startRelayWithStore(opts: { limits?: Partial<RelayLimits> } = {}): Promise<TestRelay> {
  const dir = tempDir();
  return startRelay({ dir, store: openRelayStore(dir), limits: opts.limits });
}

export interface TestUser {
  client: Client;
  store: ClientStore;
  dir: string;
  logFile: string;
  messages: ChatMessage[];
  errors: { code: string; message: string }[];
  events: { [K in keyof ClientEvents]?: ClientEvents[K][0][] };
  online(): Promise<void>;
  stop(): Promise<void>;
}

export async function makeUser(
  port: number,
  name: string,
  opts: {
    dir?: string;
    client?: Partial<ClientOptions>;
    start?: boolean;
    /** Wraps the real store, e.g. with `faultyStore` to make one call fail. */
    wrapStore?: (s: ClientStore) => ClientStore;
  } = {},
): Promise<TestUser> {
  const dir = opts.dir ?? tempDir(`chatsecure-${name}-`);
  const logFile = path.join(dir, `${name}.log`);
  const logger: Logger = createLogger({ file: logFile, name, level: 'debug' });
  const { identity } = loadOrCreateIdentity(dir);
  // A data dir the binary made has an encrypted client.db and its key (issue 13); a new one stays plain.
  const keyFile = dbKeyPath(dir);
  const real = openClientStore(dir, {
    key: dbKeyExists(keyFile) ? loadOrCreateDbKey(keyFile).key : undefined,
  });
  const store = opts.wrapStore ? opts.wrapStore(real) : real;
  const knownServersFile = path.join(dir, 'known_servers');
  const client = new Client({
    name,
    host: '127.0.0.1',
    port,
    identity,
    store,
    knownServers: new KnownServers(knownServersFile),
    knownServersFile,
    logger,
    logFile,
    acceptNewServer: true,
    reconnect: { baseMs: 50, maxMs: 400 },
    ...opts.client,
  });
  const user: TestUser = {
    client,
    store,
    dir,
    logFile,
    messages: [],
    errors: [],
    events: {},
    async online() {
      await waitFor(() => client.connection.state === 'online', 10000, `${name} online`);
    },
    async stop() {
      await client.close();
      store.close();
      await closeLogger(logger);
    },
  };
  const record = <K extends keyof ClientEvents>(k: K) =>
    client.on(k, ((e: ClientEvents[K][0]) => {
      ((user.events[k] ??= []) as unknown[]).push(e);
    }) as never);
  (
    [
      'state',
      'presence',
      'message',
      'receipt',
      'typing',
      'contact',
      'error',
      'server-unknown',
      'recovery-code',
      'group',
    ] as const
  ).forEach(record);
  client.on('message', (m) => user.messages.push(m));
  client.on('error', (e) => user.errors.push(e));
  if (opts.start !== false) {
    client.start();
    await user.online();
  }
  return user;
}

/** A relay started before each test, and the users made on it, all stopped after each test. */
export interface RelayPerTest {
  readonly relay: TestRelay;
  /** A user of this relay (`makeUser`), stopped after the test. */
  user(name: string, opts?: Parameters<typeof makeUser>[2]): Promise<TestUser>;
  /** Stops `u` now (not again after the test). */
  stop(u: TestUser): Promise<void>;
}

export function relayPerTest(start: () => Promise<TestRelay> = () => startRelay()): RelayPerTest {
  let relay: TestRelay | undefined;
  const users: TestUser[] = [];
  beforeEach(async () => {
    relay = await start();
  });
  afterEach(async () => {
    for (const u of users.splice(0)) await u.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
  });
  const current = (): TestRelay => {
    if (!relay) throw new Error('the relay starts in beforeEach');
    return relay;
  };
  return {
    get relay() {
      return current();
    },
    async user(name, opts) {
      const u = await makeUser(current().port, name, opts);
      users.push(u);
      return u;
    },
    async stop(u) {
      users.splice(users.indexOf(u), 1);
      await u.stop();
    },
  };
}

export async function waitForMessages(u: TestUser, n: number, timeoutMs = 10000): Promise<void> {
  await waitFor(() => u.messages.length >= n, timeoutMs, `${u.client.name} to receive ${n} messages`);
}

/**
 * The real store with a fault switch: `fail(method, err, times)` makes the next `times` calls of
 * `method` throw `err` before they reach SQLite (a full disk, a bug), then it works again.
 */
export interface FaultyStore extends ClientStore {
  fail(method: keyof ClientStore, err: Error, times?: number, when?: (...args: unknown[]) => boolean): void;
}

export function faultyStore(real: ClientStore): FaultyStore {
  const faults = new Map<string, { err: Error; left: number; when: (...args: unknown[]) => boolean }>();
  return new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'fail') {
        return (method: string, err: Error, times = 1, when: (...a: unknown[]) => boolean = () => true) =>
          faults.set(method, { err, left: times, when });
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const f = faults.get(prop as string);
        if (f && f.left > 0 && f.when(...args)) {
          f.left--;
          throw f.err;
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as FaultyStore;
}
