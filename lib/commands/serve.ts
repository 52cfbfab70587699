/**
 * `chatsecure --serve`: loads or creates the relay key, opens the store, listens, prints the
 * fingerprint and the address, and stops cleanly on SIGINT / SIGTERM. One relay per data dir:
 * the server dir is locked (the same pid lock as a client's data dir).
 */
import type { RelayLimits } from '../server/relay';
import type { CommonOptions } from './options';
import { fingerprint } from '../crypto/primitives';
import { lockDataDir } from '../lock';
import { closeLogger, createLogger, flushLogger } from '../log';
import { ensurePrivateDir, logFile, resolveDataDir, serverDir } from '../paths';
import { startMetrics, totalQueued } from '../server/metrics';
import { Relay } from '../server/relay';
import { loadOrCreateRelayKey, loadRelayCert, relayStoreKey } from '../server/relay-key';
import { openRelayStore } from '../server/sqlite-store';
import { certSummary } from '../crypto/relay-cert';
import { redactUrl } from '../config';
import type { Logger } from '../log';
import { RedisCluster } from '../server/redis/cluster';
import { openRedisRelayStore } from '../server/redis-store';
import type { RelayStore } from '../server/store';
import { ChatError } from '../errors';

export interface ServeOptions extends CommonOptions {
  host: string;
  port: number;
  /** `--metrics HOST:PORT`: serve Prometheus metrics and /healthz there (off by default). */
  metrics?: { host: string; port: number };
  /** The config file's `[limits]` table (docs/protocol.md section 9); defaults where absent. */
  limits?: Partial<RelayLimits>;
  /**
   * `--cluster redis://HOST:PORT[/DB]` with `--relay-id ID` (issue 14): several relays share
   * one Redis for the directory, prekeys, queues, sessions and presence.
   */
  cluster?: { url: string; relayId: string };
  /** `--relay-cert FILE`: the relay's certificate from a relay authority (docs/protocol.md 6.1). */
  relayCert?: string;
  /** `--encrypt-store`: relay.db encrypted with the key in relay.db.key (off by default). */
  encryptStore?: boolean;
}

/**
 * SQLite in the data dir, or (`--cluster`) the shared Redis, whose durability settings are
 * checked now: each unsafe one is a warning on stderr and in the log, naming the setting.
 */
async function openStore(
  opts: ServeOptions,
  dir: string,
  logger: Logger,
): Promise<{ store: RelayStore; cluster?: RedisCluster }> {
  if (!opts.cluster) {
    const storeKey = relayStoreKey(dir, opts.encryptStore === true);
    if (storeKey?.created) logger.info('created the relay store key; relay.db is now encrypted');
    return { store: openRelayStore(dir, { key: storeKey?.key }) };
  }
  if (opts.encryptStore) {
    throw new ChatError(
      'bad_args',
      '--encrypt-store is for the SQLite store of a single relay; with --cluster the data is in Redis',
    );
  }
  const { url, relayId } = opts.cluster;
  const store = await openRedisRelayStore({ url, relayId, logger, checkSettings: false });
  try {
    for (const w of await store.checkSettings()) {
      logger.warn({ setting: w.setting, value: w.value, safe: w.safe }, w.message);
      process.stderr.write(`warning: ${w.message} (set ${w.setting} ${w.safe})\n`);
    }
    return { store, cluster: new RedisCluster(store, relayId, logger) };
  } catch (err) {
    await store.close();
    throw err;
  }
}

export async function serve(opts: ServeOptions): Promise<void> {
  const dataDir = resolveDataDir(opts.dataDir);
  const dir = serverDir(dataDir);
  ensurePrivateDir(dir);
  // Defect 9: one relay per data dir; a second --serve is refused, naming the holder's pid.
  const lock = lockDataDir(dir);
  const logger = createLogger({
    file: opts.logFile ?? logFile(dataDir, { serve: true }),
    level: opts.logLevel,
    debug: opts.debug,
    name: 'relay',
    reopenOnSighup: true,
  });
  try {
    const { key, created } = loadOrCreateRelayKey(dir);
    const fp = fingerprint(key.publicKey);
    if (created) logger.info({ fingerprint: fp }, 'created a new relay key');
    // Docs/protocol.md 6.1: a certificate for this key, checked now, sent in every handshake.
    const cert = opts.relayCert === undefined ? undefined : loadRelayCert(opts.relayCert, key, Date.now());
    const { store: rawStore, cluster } = await openStore(opts, dir, logger);
    const metrics =
      opts.metrics &&
      (await startMetrics({
        ...opts.metrics,
        queueDepth: () => totalQueued(rawStore),
        online: (): number => relay.online.length,
      }));
    const store = metrics ? metrics.instrument(rawStore) : rawStore;
    const relay: Relay = await Relay.start({
      host: opts.host,
      port: opts.port,
      key,
      store,
      logger,
      limits: opts.limits,
      observer: metrics?.observer,
      ...(cluster ? { cluster } : {}),
      cert,
    }).catch(async (err: unknown) => {
      await metrics?.stop();
      await rawStore.close();
      throw err;
    });
    const { host, port } = relay.address;
    // The signal handlers are in place before the lines that say the relay is up: a service
    // manager or a test may send SIGTERM as soon as it reads them (it once killed the process
    // outright, exit status null, in the gap between the two).
    const stopped = new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping');
        relay
          .stop()
          .then(() => metrics?.stop())
          .then(resolve, (err) => {
            logger.error({ err }, 'error while stopping');
            resolve();
          });
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    process.stdout.write(
      `ChatSecure relay listening on ${host.includes(':') ? `[${host}]` : host}:${port}\n` +
        `Relay key fingerprint: ${fp}\n` +
        (cert ? `Relay certificate: ${certSummary(cert)}\n` : '') +
        `Data: ${dir}\n` +
        (opts.cluster ? `Cluster: ${redactUrl(opts.cluster.url)} as relay ${opts.cluster.relayId}\n` : '') +
        (metrics ? `Metrics on http://${metrics.address.host}:${metrics.address.port}/metrics\n` : ''),
    );

    await stopped;
    process.stdout.write('ChatSecure relay stopped.\n');
  } catch (err) {
    logger.error({ err }, 'relay failed');
    flushLogger(logger);
    throw err;
  } finally {
    lock.release();
    await closeLogger(logger);
  }
}
