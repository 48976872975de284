-- Outcome notifications for waiters (Task.wait, Queue.result): a task that
-- ends while someone waits on it (its `waiters` flag, set by watch) pushes
-- its outcome, "<status>\n<result or error text>", to its notify list, once.
-- Waiters take it with BLMOVE from the list to itself, which leaves it there
-- for the next one (one push wakes them all); the list expires on its own.
-- A task nobody waits on pays only for reading the flag.
local NOTIFY_TTL_S = 60

local function notify_waiters(Q, id, tkey, status, text)
  local nkey = Q.notify_prefix .. id
  redis.call('RPUSH', nkey, status .. '\n' .. (text or ''))
  redis.call('EXPIRE', nkey, NOTIFY_TTL_S)
  redis.call('HDEL', tkey, 'waiters')
end
