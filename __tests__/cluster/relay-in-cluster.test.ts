/**
 * Issue 14: the relay test suite once more, each relay in cluster mode on a real redis-server
 * (its own key prefix, so a cluster of one): every cross-relay path (wake-ups, session keys,
 * presence channels) is taken for the requests the single relay answers from memory.
 */
import { RedisCluster } from '../../lib/server/redis/cluster';
import { openRedisRelayStore, type RedisRelayStore } from '../../lib/server/redis-store';
import { useRelayStore } from '../helpers/relay-harness';
import { startRedis, type RedisServer } from '../helpers/redis-harness';
import '../server/relay-requests.test';
import '../server/relay-paging.test';
import '../server/relay-hostile.test';
import '../server/relay-issue10.test';

let redis: RedisServer;
let n = 0;

beforeAll(async () => {
  redis = await startRedis();
  useRelayStore(
    () => openRedisRelayStore({ url: redis.url, prefix: `cluster${++n}:` }),
    (store, logger) => new RedisCluster(store as RedisRelayStore, `relay-${n}`, logger),
  );
});

afterAll(async () => {
  useRelayStore(undefined);
  await redis?.stop();
});
