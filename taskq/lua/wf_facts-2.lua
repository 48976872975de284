--[[ Count step attempts' facts, each once per (step, attempt).
The runner counts an attempt when the step's code returned or raised (a
pool worker sends a batch's in one call); a marker field in the workflow's
record makes a repeated count change nothing. The counter prefix is
's|<namespace>|<name>|<version>|<step>|' (taskq.workflows.counters.step_prefix),
read from the record.
KEYS[1] the workflow record key prefix   KEYS[2] the stats hash key prefix (+ epoch hour)
ARGV[1] stats TTL seconds, then 9 per attempt: workflow id, step, attempt,
ended ms, duration ms, histogram bucket, error type ('' when it returned),
'1' = a retry (attempt > 1), its timeout in seconds ('' = none known)
Returns how many attempts this call counted (0 for one already counted or
whose workflow is gone).
]]
-- Counters are summed here and sent once per field: a batch of attempts of
-- the same steps costs one HINCRBY per counter, not one per attempt.
local counted, sums, timeouts = 0, {}, {}
local function add(hour, field, n)
  local t = sums[hour]
  if not t then
    t = {}
    sums[hour] = t
  end
  t[field] = (t[field] or 0) + n
end
for i = 2, #ARGV, 9 do
  local wid, step, attempt, ended, duration, bucket, err, retry, timeout = unpack(ARGV, i, i + 8)
  local record_key = KEYS[1] .. wid
  local scope = redis.call('HMGET', record_key, 'namespace', 'name', 'version')
  if scope[1] and redis.call('HSETNX', record_key, 'fact:' .. step .. ':' .. attempt, duration) == 1 then
    local hour = math.floor(tonumber(ended) / 3600000)
    local f = 's|' .. scope[1] .. '|' .. scope[2] .. '|' .. scope[3] .. '|' .. step .. '|'
    add(hour, f .. 'runs', 1)
    add(hour, f .. 'sum_ms', tonumber(duration))
    add(hour, f .. 'b' .. bucket, 1)
    if err ~= '' then
      add(hour, f .. 'errors', 1)
      add(hour, f .. 'e:' .. err, 1)
    end
    if retry == '1' then add(hour, f .. 'retries', 1) end
    if timeout ~= '' then timeouts[#timeouts + 1] = {hour, f .. 'timeout', timeout} end
    counted = counted + 1
  end
end
for hour, fields in pairs(sums) do
  for field, n in pairs(fields) do redis.call('HINCRBY', KEYS[2] .. hour, field, n) end
end
for _, t in ipairs(timeouts) do redis.call('HSET', KEYS[2] .. t[1], t[2], t[3]) end
for hour in pairs(sums) do redis.call('EXPIRE', KEYS[2] .. hour, ARGV[1]) end
return counted
