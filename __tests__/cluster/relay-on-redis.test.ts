/**
 * Issue 14, what it must show: the existing relay test suite against the Redis store, the same
 * tests as on SQLite. Each relay the tests start gets a fresh key prefix on one real redis-server.
 */
import { openRedisRelayStore } from '../../lib/server/redis-store';
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
  useRelayStore(() => openRedisRelayStore({ url: redis.url, prefix: `relay${++n}:` }));
});

afterAll(async () => {
  useRelayStore(undefined);
  await redis?.stop();
});
