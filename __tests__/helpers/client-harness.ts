/**
 * Real `Client` objects for tests: each with its own data dir, SQLite store, identity, log
 * file and known_servers, talking to a real relay over loopback.
 */
import * as path from 'node:path';
import { Client, type ClientOptions } from '../../lib/client/client';
import { loadOrCreateIdentity } from '../../lib/client/identity-store';
import { KnownServers } from '../../lib/client/known-servers';
import { openClientStore } from '../../lib/client/sqlite-store';
import type { ClientStore } from '../../lib/client/store';
import type { ChatMessage, ClientEvents } from '../../lib/client/types';
import { closeLogger, createLogger, type Logger } from '../../lib/log';
import { tempDir, waitFor } from './relay-harness';

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
  opts: { dir?: string; client?: Partial<ClientOptions>; start?: boolean } = {},
): Promise<TestUser> {
  const dir = opts.dir ?? tempDir(`chatsecure-${name}-`);
  const logFile = path.join(dir, `${name}.log`);
  const logger: Logger = createLogger({ file: logFile, name, level: 'debug' });
  const { identity } = loadOrCreateIdentity(dir);
  const store = openClientStore(dir);
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
    ['state', 'presence', 'message', 'receipt', 'typing', 'contact', 'error', 'server-unknown'] as const
  ).forEach(record);
  client.on('message', (m) => user.messages.push(m));
  client.on('error', (e) => user.errors.push(e));
  if (opts.start !== false) {
    client.start();
    await user.online();
  }
  return user;
}

export async function waitForMessages(u: TestUser, n: number, timeoutMs = 10000): Promise<void> {
  await waitFor(() => u.messages.length >= n, timeoutMs, `${u.client.name} to receive ${n} messages`);
}
