-- The listing indexes of schedules (taskq.keys.ScheduleKeys.listing): one
-- zset per combination of the (status, kind, created_by) filters, '*' = not
-- filtered, score = the list order (created ms, ties broken in creation
-- order: schedule-5.lua create). The unfiltered combination is the index
-- zset, kept by the create op, so it is not among these seven.
local function listing_keys(listing_key, status, kind, creator)
  local out = {}
  for _, s in ipairs({status, '*'}) do
    for _, k in ipairs({kind, '*'}) do
      for _, c in ipairs({creator, '*'}) do
        if s ~= '*' or k ~= '*' or c ~= '*' then
          out[#out + 1] = listing_key .. s .. ':' .. k .. ':' .. c
        end
      end
    end
  end
  return out
end

-- What a schedule hash is listed under: {status, kind, created_by}.
local function listed_as(skey)
  local f = redis.call('HMGET', skey, 'status', 'schedule_kind', 'created_by')
  return {f[1] or '', f[2] or '', f[3] or ''}
end

-- Move a schedule from the indexes of ``old`` to those of ``new`` (either
-- may be nil: not listed before / not any more); nothing when equal.
local function relist(listing_key, id, score, old, new)
  if old and new and old[1] == new[1] and old[2] == new[2] and old[3] == new[3] then return end
  if old then
    for _, lkey in ipairs(listing_keys(listing_key, old[1], old[2], old[3])) do
      redis.call('ZREM', lkey, id)
    end
  end
  if new then
    for _, lkey in ipairs(listing_keys(listing_key, new[1], new[2], new[3])) do
      redis.call('ZADD', lkey, score, id)
    end
  end
end
