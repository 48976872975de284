-- Outcome notifications for waiters (Task.wait): a task that ends pushes
-- one token (its final status) per waiter registered on it to its notify
-- list, which expires on its own; a task nobody waits on pays only for
-- reading its `waiters` field. Waiters re-check the task after every wake,
-- so a surplus token (a waiter that gave up) is harmless.
local NOTIFY_TTL_S = 60
local NOTIFY_MAX_TOKENS = 256

local function notify_waiters(Q, id, tkey, status, waiters)
  local n = tonumber(waiters or '0') or 0
  if n <= 0 then return end
  local nkey = Q.notify_prefix .. id
  local tokens = {}
  for i = 1, math.min(n, NOTIFY_MAX_TOKENS) do tokens[i] = status end
  redis.call('RPUSH', nkey, unpack(tokens))
  redis.call('LTRIM', nkey, -NOTIFY_MAX_TOKENS, -1)
  redis.call('EXPIRE', nkey, NOTIFY_TTL_S)
  redis.call('HDEL', tkey, 'waiters')
end
