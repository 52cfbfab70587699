/**
 * The Lua scripts of the Redis relay store (redis-store.ts): each multi-step operation is ONE
 * script, so Redis runs it atomically (no other command runs in between) and writes it to the
 * AOF as one unit. Kept as string constants so the build ships them without a copy step.
 *
 * Values that compare bytes (signing keys, prekeys) are public, so the Lua `==` is harmless; the
 * one comparison that decides who an identity is (register's "existing" vs "name_taken") is
 * answered with the stored keys and made in constant time by the caller.
 *
 * Every key a script touches is passed in KEYS (never built inside the script), as Redis Cluster
 * requires. KEYS of the per-user scripts all carry the user's hash tag `{canon}`.
 */
import { createHash } from 'node:crypto';

export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha1: string;
}

function script(name: string, source: string): LuaScript {
  return { name, source, sha1: createHash('sha1').update(source).digest('hex') };
}

/**
 * Removes one queued envelope and its counters. KEYS of the queue scripts, in this order:
 * 1 order (zset id → arrival seq), 2 ts (zset id → relay ms), 3 env (hash id → bytes),
 * 4 from (hash id → sender as registered), 5 fromc (hash id → sender canon),
 * 6 senders (hash sender canon → count), 7 meta (hash: seq, bytes).
 */
const REMOVE_QUEUED = `
local function remove(id)
  if redis.call('ZREM', KEYS[1], id) == 0 then return 0 end
  local fc = redis.call('HGET', KEYS[5], id)
  local len = redis.call('HSTRLEN', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  if fc and redis.call('HINCRBY', KEYS[6], fc, -1) <= 0 then redis.call('HDEL', KEYS[6], fc) end
  if redis.call('HINCRBY', KEYS[7], 'bytes', -len) <= 0 then redis.call('HDEL', KEYS[7], 'bytes') end
  return 1
end
`;

/**
 * KEYS: user, directory:idents, directory:names. ARGV: canon, name, signKey, dhKey, idcert, now.
 * The name free and the identity free are checked and both written in one step. A held name
 * answers its stored keys; the caller decides `existing` or `name_taken` in constant time.
 */
export const REGISTER = script(
  'register',
  `
local held = redis.call('HMGET', KEYS[1], 'sign', 'dh')
if held[1] then return {'held', held[1], held[2]} end
if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then return {'identity_taken'} end
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'sign', ARGV[3], 'dh', ARGV[4], 'idcert', ARGV[5],
  'reg', ARGV[6], 'seen', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'rec', ARGV[7]) end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
return {'ok'}
`,
);

/**
 * KEYS: user, directory:idents, spk, opk:ids, opk:free, opk:pub, then the 7 queue keys.
 * ARGV: canon, name, signKey, dhKey, idcert, now, recovery ('' for none). The registration lock
 * (docs/protocol.md 7.1): the name's identity becomes the new one and the old identity's prekeys
 * (used ids included) and queue are dropped, in one step; without a new recovery key the stored
 * one is kept. The proof was checked by the relay.
 */
export const REPLACE_IDENTITY = script(
  'replace_identity',
  `
local old = redis.call('HGET', KEYS[1], 'sign')
if not old then return 'unknown_user' end
local holder = redis.call('HGET', KEYS[2], ARGV[3])
if holder and holder ~= ARGV[1] then return 'identity_taken' end
if redis.call('HGET', KEYS[2], old) == ARGV[1] then redis.call('HDEL', KEYS[2], old) end
for i = 3, #KEYS do redis.call('UNLINK', KEYS[i]) end
local name = redis.call('HGET', KEYS[1], 'name')
local rec = redis.call('HGET', KEYS[1], 'rec')
if ARGV[7] ~= '' then rec = ARGV[7] end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'name', name, 'sign', ARGV[3], 'dh', ARGV[4], 'idcert', ARGV[5],
  'reg', ARGV[6], 'seen', ARGV[6])
if rec then redis.call('HSET', KEYS[1], 'rec', rec) end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
return 'ok'
`,
);

/** KEYS: user. ARGV: recovery key. Sets the recovery key of a registered user. */
export const SET_RECOVERY = script(
  'set_recovery',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown_user' end
redis.call('HSET', KEYS[1], 'rec', ARGV[1])
return 'ok'
`,
);

/** KEYS: user. ARGV: now. Never creates a user that is not registered. */
export const SET_LAST_SEEN = script(
  'set_last_seen',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'seen', ARGV[1]) end
return 1
`,
);

/**
 * KEYS: user, spk, opk:ids, opk:free, opk:pub. ARGV: hasSpk ('1' | '0'), spk id, pub, sig, then
 * (opk id, opk pub) pairs. All or nothing: every id is checked before anything is written.
 * `opk:ids` keeps every id ever published, so a handed-out id is never accepted again.
 */
export const PUBLISH_PREKEYS = script(
  'publish_prekeys',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown_user' end
if ARGV[1] == '1' then
  local cur = redis.call('HMGET', KEYS[2], 'id', 'pub', 'sig')
  if cur[1] == ARGV[2] and (cur[2] ~= ARGV[3] or cur[3] ~= ARGV[4]) then return 'duplicate_id' end
end
local seen = {}
for i = 5, #ARGV, 2 do
  local id = ARGV[i]
  if seen[id] or redis.call('SISMEMBER', KEYS[3], id) == 1 then return 'duplicate_id' end
  seen[id] = true
end
if ARGV[1] == '1' then redis.call('HSET', KEYS[2], 'id', ARGV[2], 'pub', ARGV[3], 'sig', ARGV[4]) end
for i = 5, #ARGV, 2 do
  redis.call('SADD', KEYS[3], ARGV[i])
  redis.call('ZADD', KEYS[4], tonumber(ARGV[i]), ARGV[i])
  redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1])
end
return 'ok'
`,
);

/**
 * KEYS: spk, opk:free, opk:pub. ARGV: takeOpk ('1' | '0'). The signed prekey and (with '1') the
 * lowest unused one-time prekey id, popped in the same step: two takers can never get the same
 * one. Nil without an spk.
 */
export const TAKE_BUNDLE = script(
  'take_bundle',
  `
local s = redis.call('HMGET', KEYS[1], 'id', 'pub', 'sig')
if not s[1] then return false end
if ARGV[1] == '0' then return {s[1], s[2], s[3]} end
local p = redis.call('ZPOPMIN', KEYS[2])
if #p == 0 then return {s[1], s[2], s[3]} end
local pub = redis.call('HGET', KEYS[3], p[1])
redis.call('HDEL', KEYS[3], p[1])
return {s[1], s[2], s[3], p[1], pub}
`,
);

/**
 * KEYS: the 7 queue keys (REMOVE_QUEUED), then 8 user. ARGV: id, from, fromCanon, env, ts,
 * maxPerRecipient, maxPerSender, maxBytes, wake channel. Duplicate check, the three caps, the
 * append and the publish on the recipient's channel, in one step. Answers {result, listeners}:
 * how many subscribers (relays holding the recipient) the publish reached.
 */
export const ENQUEUE = script(
  'enqueue',
  `
if redis.call('EXISTS', KEYS[8]) == 0 then return {'unknown_user', 0} end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {'duplicate', 0} end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[6]) then return {'queue_full', 0} end
local mine = tonumber(redis.call('HGET', KEYS[6], ARGV[3]) or '0')
if mine >= tonumber(ARGV[7]) then return {'queue_full', 0} end
local bytes = tonumber(redis.call('HGET', KEYS[7], 'bytes') or '0')
if bytes + #ARGV[4] > tonumber(ARGV[8]) then return {'queue_full', 0} end
local seq = redis.call('HINCRBY', KEYS[7], 'seq', 1)
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('ZADD', KEYS[2], tonumber(ARGV[5]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[6], ARGV[3], 1)
redis.call('HINCRBY', KEYS[7], 'bytes', #ARGV[4])
return {'ok', redis.call('PUBLISH', ARGV[9], ARGV[1])}
`,
);

/** KEYS: order, ts, env, from. ARGV: limit (> 0). Flat {id, env, from, ts} in arrival order. */
export const PENDING = script(
  'pending',
  `#!lua flags=no-writes
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[3], id)
  out[#out + 1] = redis.call('HGET', KEYS[4], id)
  out[#out + 1] = redis.call('ZSCORE', KEYS[2], id)
end
return out
`,
);

/** KEYS: the 7 queue keys. ARGV: id. 1 if it was there (and is now gone), 0 otherwise. */
export const ACK = script('ack', `${REMOVE_QUEUED}return remove(ARGV[1])\n`);

/**
 * KEYS: the 7 queue keys. ARGV: cutoff (ms), batch. Removes up to `batch` envelopes with
 * ts < cutoff; the caller repeats until fewer come back, so no one call blocks Redis long.
 */
export const EXPIRE_USER = script(
  'expire_user',
  `${REMOVE_QUEUED}
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do remove(id) end
return #ids
`,
);

/** KEYS: a lease key. ARGV: token. Deletes the lease only if this holder still has it. */
export const RELEASE_LEASE = script(
  'release_lease',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

/**
 * KEYS: user, directory:idents, directory:names, then every other key of the user. ARGV: canon.
 * The directory entries and all of the user's keys go in one step.
 */
export const FREE_NAME = script(
  'free_name',
  `
local sign = redis.call('HGET', KEYS[1], 'sign')
if not sign then return 0 end
if redis.call('HGET', KEYS[2], sign) == ARGV[1] then redis.call('HDEL', KEYS[2], sign) end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1])
for i = 4, #KEYS do redis.call('UNLINK', KEYS[i]) end
return 1
`,
);

/**
 * KEYS: session. ARGV: owner, ttl ms. Claims the user's session for `owner` and answers the
 * previous owner (nil if none or expired), so the caller can tell it to close (`replaced`).
 */
export const CLAIM_SESSION = script(
  'claim_session',
  `
local prev = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return prev
`,
);

/** KEYS: session. ARGV: owner, ttl ms. Extends the TTL only while `owner` holds it: 1, else 0. */
export const REFRESH_SESSION = script(
  'refresh_session',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`,
);

/** KEYS: session. ARGV: owner. Gives the session up only while `owner` holds it: 1, else 0. */
export const RELEASE_SESSION = script(
  'release_session',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`,
);
