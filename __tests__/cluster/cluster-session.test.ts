/**
 * Issue 14 point 4, the session key: claimed at login with a TTL, refreshed on traffic, claimed
 * again if it expired while Redis was away, and a connection whose key a newer login took (its
 * control message lost) is closed with `replaced`. An in-process relay on a real redis-server,
 * with an injected clock for the refresh period.
 */
import * as path from 'node:path';
import { createClient } from 'redis';
import { closeLogger, createLogger } from '../../lib/log';
import { RedisCluster, SESSION_TTL_MS } from '../../lib/server/redis/cluster';
import { openRedisRelayStore } from '../../lib/server/redis-store';
import { Relay } from '../../lib/server/relay';
import { loadOrCreateRelayKey } from '../../lib/server/relay-key';
import { startRedis, type RedisServer } from '../helpers/redis-harness';
import { loginClient, tempDir, waitFor } from '../helpers/relay-harness';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

it('claims the session key at login, refreshes it on traffic, re-claims an expired one, and yields to a newer holder', async () => {
  const dir = tempDir();
  const logger = createLogger({ file: path.join(dir, 'relay.log'), name: 'relay', level: 'debug' });
  let clock = Date.now();
  const now = () => clock;
  const store = await openRedisRelayStore({ url: redis.url, prefix: 'sess:', relayId: 'one' });
  const relay = await Relay.start({
    host: '127.0.0.1',
    port: 0,
    key: loadOrCreateRelayKey(dir).key,
    store,
    logger,
    now,
    cluster: new RedisCluster(store, 'one', logger, now),
  });
  const raw = createClient({ url: redis.url });
  await raw.connect();
  try {
    const bob = await loginClient(relay.address.port, 'Bob');
    const key = 'sess:{bob}:session';
    const owner = await raw.get(key);
    expect(owner).toMatch(/^one\/\d+$/);
    const ttl = await raw.pTTL(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(SESSION_TTL_MS);

    // Traffic a third of the TTL later refreshes it; the key had gone (a long outage): claimed again.
    await raw.del(key);
    clock += SESSION_TTL_MS / 3 + 1;
    expect((await bob.request({ t: 'ping' }, 'pong')).t).toBe('pong');
    await waitFor(async () => (await raw.get(key)) === owner, 10_000, 'the key claimed again');

    // A newer login elsewhere holds it now and its control message was lost: Bob is replaced.
    await raw.set(key, 'two/7', { PX: SESSION_TTL_MS });
    clock += SESSION_TTL_MS / 3 + 1;
    bob.send({ t: 'ping', rid: 'p2' });
    expect(await bob.next('error')).toMatchObject({ code: 'replaced' });
    await bob.whenClosed();
    // And the newer holder's key is left alone.
    expect(await raw.get(key)).toBe('two/7');
  } finally {
    await raw.close();
    await relay.stop();
    await closeLogger(logger);
  }
});
