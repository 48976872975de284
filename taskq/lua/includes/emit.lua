-- Record a transition: an event in the capped stream, the lifetime counter,
-- and per-minute / per-hour buckets for analytics. Extra is a flat list of
-- field, value pairs added to the stream entry.
local function emit(Q, now, event, id, extra)
  local entry = {'XADD', Q.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'event', event, 'id', id}
  if extra then
    for i = 1, #extra do entry[#entry + 1] = extra[i] end
  end
  redis.call(unpack(entry))
  redis.call('HINCRBY', Q.stats, event, 1)
  local minute = math.floor(now / 60000)
  redis.call('HINCRBY', Q.series, 'm:' .. minute .. ':' .. event, 1)
  redis.call('HINCRBY', Q.series, 'h:' .. math.floor(minute / 60) .. ':' .. event, 1)
end
