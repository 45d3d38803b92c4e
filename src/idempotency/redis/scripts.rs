//! The Lua scripts of the shared store, each atomic in Redis. Times are Redis's own (`TIME`).
//!
//! Keys under the cluster's prefix: `idem:<hex>` (an entry), `idem:expiry` (every key by expiry:
//! the count, the oldest first), `idem:pending` (keys in flight or unknown, by since),
//! `idem:unknown` (the unknown ones), `idem:seen:<generation>` (bitmaps), `idem:suspect`
//! (until when claims are suspect); and the cluster's `epoch` and `seq` (`cluster::peers::Peers`).

/// KEYS: entry, expiry, pending, epoch, seq, suspect, seen generations (newest first).
/// ARGV: entry, ttl ms, hex key, expires at, since (now by the gateway's clock: Redis's),
/// max entries, known epoch, fresh epoch, suspect window ms, a loss the gateway saw ("1" or
/// ""), key prefix, then the
/// key's bit positions (checked, not set: a key is remembered once it may have taken effect).
/// Answers {status, held-or-flag, epoch, seq, count, evicted, Redis's time in ms}: status 0
/// claimed (flag `suspect` or empty), 1 held (the entry), 2 full.
pub const CLAIM: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = redis.call('GET', KEYS[4])
local lost = false
if not epoch then
  epoch = ARGV[8]
  redis.call('SET', KEYS[4], epoch)
  lost = ARGV[7] ~= ''
elseif ARGV[7] ~= '' and epoch ~= ARGV[7] then
  lost = true
end
local seq = redis.call('INCR', KEYS[5])
local window = tonumber(ARGV[9])
if lost or ARGV[10] == '1' then
  redis.call('SET', KEYS[6], tostring(now + window), 'PX', window)
end
local held = redis.call('GET', KEYS[1])
local count = redis.call('ZCARD', KEYS[2])
if held then
  return {1, held, epoch, seq, count, 0, now}
end
-- Keys whose entries Redis expired leave the sets (a bounded number per claim).
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 64)
for _, m in ipairs(gone) do
  redis.call('ZREM', KEYS[2], m)
  redis.call('ZREM', KEYS[3], m)
end
count = count - #gone
-- At capacity: the oldest settled entries go (state tag 2 at byte 50); never one in flight.
local evicted = 0
local max = tonumber(ARGV[6])
if count >= max then
  local front = redis.call('ZRANGE', KEYS[2], 0, 255)
  for _, m in ipairs(front) do
    if count < max then break end
    local k = ARGV[11] .. m
    local e = redis.call('GET', k)
    if not e then
      redis.call('ZREM', KEYS[2], m)
      count = count - 1
    elseif string.byte(e, 50) == 2 then
      redis.call('DEL', k)
      redis.call('ZREM', KEYS[2], m)
      count = count - 1
      evicted = evicted + 1
    end
  end
  if count >= max then
    return {2, '', epoch, seq, count, evicted, now}
  end
end
-- Seen within `remember`? Then add the key to the newest generation.
local seen = false
for g = 7, #KEYS do
  local all = true
  for i = 12, #ARGV do
    if redis.call('GETBIT', KEYS[g], ARGV[i]) == 0 then all = false break end
  end
  if all then seen = true break end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
local until_ = tonumber(redis.call('GET', KEYS[6]) or '0')
local flag = ''
if seen or lost or now < until_ then flag = 'suspect' end
return {0, flag, epoch, seq, count + 1, evicted, now}
"#;

/// KEYS: entry, expiry, pending, unknown, the newest seen generation. ARGV: expected version
/// (8 bytes), next entry (empty: remove), ttl ms, hex key, next expiry, pending since (-1: not
/// pending), unknown (1/0), remember (1/0: the key may have taken effect), seen generation
/// lifetime ms, then the key's bit positions. Answers {replaced 1/0, unknown count}.
pub const REPLACE: &str = r#"
local held = redis.call('GET', KEYS[1])
if not held or string.sub(held, 2, 9) ~= ARGV[1] then
  return {0, redis.call('ZCARD', KEYS[4])}
end
if ARGV[8] == '1' then
  for i = 10, #ARGV do
    redis.call('SETBIT', KEYS[5], ARGV[i], 1)
  end
  redis.call('PEXPIRE', KEYS[5], ARGV[9])
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
end
if tonumber(ARGV[6]) >= 0 then
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[4])
else
  redis.call('ZREM', KEYS[3], ARGV[4])
end
if ARGV[7] == '1' then
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[4])
else
  redis.call('ZREM', KEYS[4], ARGV[4])
end
return {1, redis.call('ZCARD', KEYS[4])}
"#;

/// KEYS: pending. ARGV: limit, key prefix. Answers [[hex key, entry], ...] oldest first,
/// dropping members whose entries Redis expired.
pub const PENDING: &str = r#"
local out = {}
local members = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for _, m in ipairs(members) do
  local e = redis.call('GET', ARGV[2] .. m)
  if e then
    table.insert(out, {m, e})
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return out
"#;
