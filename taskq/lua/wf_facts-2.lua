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
local counted, touched = 0, {}
for i = 2, #ARGV, 9 do
  local wid, step, attempt, ended, duration, bucket, err, retry, timeout = unpack(ARGV, i, i + 8)
  local record_key = KEYS[1] .. wid
  local scope = redis.call('HMGET', record_key, 'namespace', 'name', 'version')
  if scope[1] and redis.call('HSETNX', record_key, 'fact:' .. step .. ':' .. attempt, duration) == 1 then
    local hour = math.floor(tonumber(ended) / 3600000)
    local stats_key = KEYS[2] .. hour
    local f = 's|' .. scope[1] .. '|' .. scope[2] .. '|' .. scope[3] .. '|' .. step .. '|'
    redis.call('HINCRBY', stats_key, f .. 'runs', 1)
    redis.call('HINCRBY', stats_key, f .. 'sum_ms', duration)
    redis.call('HINCRBY', stats_key, f .. 'b' .. bucket, 1)
    if err ~= '' then
      redis.call('HINCRBY', stats_key, f .. 'errors', 1)
      redis.call('HINCRBY', stats_key, f .. 'e:' .. err, 1)
    end
    if retry == '1' then redis.call('HINCRBY', stats_key, f .. 'retries', 1) end
    if timeout ~= '' then redis.call('HSET', stats_key, f .. 'timeout', timeout) end
    touched[hour] = true
    counted = counted + 1
  end
end
for hour in pairs(touched) do redis.call('EXPIRE', KEYS[2] .. hour, ARGV[1]) end
return counted
