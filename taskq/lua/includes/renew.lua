--- @include "includes/now_ms.lua"
--- @include "includes/lease.lua"
--- @include "includes/full.lua"
-- Renew one fenced lease: expires = now + ms ('extend': old expiry + ms), in
-- the task, the running index and its holder's index. An expired lease is
-- refused even before the reaper sees it, so a renewal never revives it.
-- Returns expires, cancel_requested (bool) or nil, refusal.
local function renew_lease(Q, id, token, now, ms, extend)
  local tkey = Q.task_prefix .. id
  local f, refusal = check_lease(tkey, token, now, 'cancel', 'worker')
  if refusal then return nil, refusal end
  local expires = now + ms
  if extend then expires = tonumber(f[3]) + ms end
  local text = int_text(expires)
  redis.call('HSET', tkey, 'expires', text)
  redis.call('ZADD', Q.running, text, id)
  if f[5] then redis.call('ZADD', Q.held_prefix .. f[5], text, id) end
  return expires, f[4] == '1'
end
