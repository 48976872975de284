--- @include "includes/now_ms.lua"
-- Record transitions: one entry per task in the capped event stream, and
-- counters (lifetime, per minute, per hour) bumped once per batch.

-- Extra is a flat list of field, value pairs added to the stream entry.
local function log_event(Q, event, id, extra)
  local entry = {'XADD', Q.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'event', event, 'id', id}
  if extra then
    for i = 1, #extra do entry[#entry + 1] = extra[i] end
  end
  redis.call(unpack(entry))
end

local function count_event(Q, now, event, n)
  if n == 0 then return end
  local by = int_text(n)
  redis.call('HINCRBY', Q.stats, event, by)
  local minute = math.floor(now / 60000)
  redis.call('HINCRBY', Q.series, 'm:' .. int_text(minute) .. ':' .. event, by)
  redis.call('HINCRBY', Q.series, 'h:' .. int_text(math.floor(minute / 60)) .. ':' .. event, by)
end

local function emit(Q, now, event, id, extra)
  log_event(Q, event, id, extra)
  count_event(Q, now, event, 1)
end
