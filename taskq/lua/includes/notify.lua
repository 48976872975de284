-- Outcome notifications for waiters (Task.wait, Queue.result): a task that
-- ends while someone waits on it (its `waiters` flag, set by watch) publishes
-- its outcome once on its queue's notify channel, as
-- "<length of the id in characters>:<id>\n<status>\n<result or error text>"
-- (the id may hold any character); over PUSH_TEXT_MAX bytes of text, the
-- message stops after the status and the waiter reads the task (a
-- subscriber's output buffer is bounded). Waiters subscribe before they run
-- watch, so none misses it (taskq/waiter_hub.py). A task nobody waits on
-- pays only for reading the flag.
local PUSH_TEXT_MAX = 65536

local function notify_waiters(Q, id, tkey, status, text)
  local chars = #id - select(2, string.gsub(id, '[\128-\191]', ''))
  local message = chars .. ':' .. id .. '\n' .. status
  if not text or #text <= PUSH_TEXT_MAX then message = message .. '\n' .. (text or '') end
  redis.call('PUBLISH', Q.notify_prefix, message)
  redis.call('HDEL', tkey, 'waiters')
end
