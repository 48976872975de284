-- Fencing: only the holder of a live lease may act on a running task.
-- Returns the fields asked for (after status, token, expires) or a refusal.
local function check_lease(tkey, token, now, ...)
  local f = redis.call('HMGET', tkey, 'status', 'token', 'expires', ...)
  if not f[1] then return nil, {E_NOT_FOUND} end
  if f[1] ~= 'running' or f[2] ~= token then return nil, {E_LEASE, f[1]} end
  if tonumber(f[3]) < now then return nil, {E_LEASE, 'expired'} end
  return f, nil
end
