"""The Lua scripts behind the deployment-wide budgets: each one atomic, each on Redis's own clock.

Redis's ``TIME`` is the one clock every worker host shares, so lease expiries and the AIMD cool-down
do not depend on the hosts' clocks agreeing. Keys of one budget (``sec:budget:<name>:…``):

- ``holders``  hash worker -> permits it holds (calls it may have in flight);
- ``leases``   hash worker -> lease expiry (ms); a worker whose lease lapsed is dropped with its permits;
- ``starving`` hash worker -> expiry (ms): workers that got less than their fair share and want more;
- ``limit``    hash ``current``, ``max``, ``cut_at``, ``raised_at`` (ms): the AIMD state;
- ``bucket``   hash ``tokens``, ``ts``: the calls-per-second token bucket.
"""

from __future__ import annotations

from typing import Any

_registered: dict[str, Any] = {}


def run(client: Any, source: str, keys: list[str], *args: Any) -> Any:
    """``source`` on ``client`` by its SHA (EVALSHA; loaded again after a Redis restart)."""
    script = _registered.get(source)
    if script is None:
        script = _registered[source] = client.register_script(source)
    return script(keys=keys, args=list(args), client=client)

# Shared preamble: the time in ms, and the deployment's current limit (kept within the configured max).
_NOW_AND_LIMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV_MAX)
local current = tonumber(redis.call('HGET', KEYS[4], 'current') or max)
if tonumber(redis.call('HGET', KEYS[4], 'max') or -1) ~= max then
  redis.call('HSET', KEYS[4], 'max', max)
  if current > max then current = max end
end
"""

# KEYS holders, leases, starving, limit. ARGV worker, demand, floor, ttl_ms, max, raise_every_ms.
# Grants the worker min(demand + spare, what the others leave free), never less than ``floor`` (the
# calls it has in flight). Returns {held, usable, current, live workers, max}.
LEASE = """
local worker = ARGV[1]
local demand = tonumber(ARGV[2])
local floor = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local raise_every = tonumber(ARGV[6])
""" + _NOW_AND_LIMIT.replace("ARGV_MAX", "ARGV[5]") + """
local leases = redis.call('HGETALL', KEYS[2])
for i = 1, #leases, 2 do
  if tonumber(leases[i + 1]) < now then
    redis.call('HDEL', KEYS[1], leases[i])
    redis.call('HDEL', KEYS[2], leases[i])
    redis.call('HDEL', KEYS[3], leases[i])
  end
end
-- additive increase: one more permit per quiet interval (no cut, no raise within it)
if raise_every > 0 and current < max then
  local last = math.max(tonumber(redis.call('HGET', KEYS[4], 'cut_at') or 0),
                        tonumber(redis.call('HGET', KEYS[4], 'raised_at') or 0))
  if now - last >= raise_every then
    current = current + 1
    redis.call('HSET', KEYS[4], 'raised_at', now)
  end
end
redis.call('HSET', KEYS[4], 'current', current)
local others, live = 0, 1
local held = redis.call('HGETALL', KEYS[1])
for i = 1, #held, 2 do
  if held[i] ~= worker then
    others = others + tonumber(held[i + 1])
    live = live + 1
  end
end
local starving = 0
local hungry = redis.call('HGETALL', KEYS[3])
for i = 1, #hungry, 2 do
  if hungry[i] ~= worker and tonumber(hungry[i + 1]) >= now then starving = starving + 1 end
end
local fair = math.max(1, math.floor(current / live))
local spare = math.max(1, math.floor(fair / 4))
local wanted = demand + spare
if starving > 0 then wanted = math.min(demand, fair) end
wanted = math.min(wanted, current)
local usable = math.min(wanted, math.max(0, current - others))
local new = math.max(usable, floor)
if usable < math.min(demand, fair) then
  redis.call('HSET', KEYS[3], worker, now + ttl)
else
  redis.call('HDEL', KEYS[3], worker)
end
redis.call('HSET', KEYS[1], worker, new)
redis.call('HSET', KEYS[2], worker, now + ttl)
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl * 4) end
return {new, usable, current, live, max}
"""

# KEYS holders, leases, starving, limit. ARGV worker. A worker leaving gives its permits back at once.
RETIRE = """
for i = 1, 3 do redis.call('HDEL', KEYS[i], ARGV[1]) end
return 1
"""

# KEYS holders, leases, starving, limit. ARGV max, cooldown_ms. Multiplicative decrease: the limit
# halved (not below 1), at most once per cool-down. Returns {current, 1 if this call cut it}.
CUT = _NOW_AND_LIMIT.replace("ARGV_MAX", "ARGV[1]") + """
local cooldown = tonumber(ARGV[2])
local cut_at = tonumber(redis.call('HGET', KEYS[4], 'cut_at') or 0)
if now - cut_at < cooldown then
  redis.call('HSET', KEYS[4], 'current', current)
  return {current, 0}
end
current = math.max(1, math.floor(current / 2))
redis.call('HSET', KEYS[4], 'current', current, 'cut_at', now)
return {current, 1}
"""

# KEYS bucket. ARGV want, rate per second, capacity, longest wait (ms). Reserves ``want`` tokens,
# borrowing from the next ones when the bucket holds fewer (the caller waits until they are due), so
# one round trip always buys a whole block and callers are served in turn. A reservation longer than
# the caller can wait is not made. Returns {granted, wait_ms}.
TOKENS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local want = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local longest = tonumber(ARGV[4])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or capacity)
local ts = tonumber(redis.call('HGET', KEYS[1], 'ts') or now)
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate / 1000)
local wait = 0
if tokens < want then wait = math.ceil((want - tokens) * 1000 / rate) end
local granted = 0
if wait <= longest then
  granted = want
  tokens = tokens - want
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], 60000)
return {granted, wait}
"""
