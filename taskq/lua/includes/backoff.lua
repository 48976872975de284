-- Delay before the retry that follows failed attempt `attempt`; the same
-- formula as taskq/backoff.py (a test checks they agree). Jitter comes from
-- the caller: Lua's PRNG is seeded identically on every script call.
-- 'steps:<ms>,<ms>,...' waits its n-th step before retry n (the last one
-- after that), uncapped: RQ's Retry(interval=[...]).
local BACKOFF_CAP_MS = 3600000
local function backoff_ms(strategy, attempt, jitter, base)
  if attempt < 1 then attempt = 1 end
  local d
  if string.sub(strategy, 1, 6) == 'steps:' then
    local last = 0
    local n = 0
    for step in string.gmatch(string.sub(strategy, 7), '%d+') do
      n = n + 1
      last = tonumber(step)
      if n == attempt then return last end
    end
    return last
  elseif strategy == 'fixed' then
    d = base
  elseif strategy == 'linear' then
    d = base * attempt
  else
    d = math.min(BACKOFF_CAP_MS, base * 2 ^ math.min(attempt - 1, 62))
    d = d / 2 + jitter * d / 2
  end
  return math.floor(math.min(BACKOFF_CAP_MS, d))
end
