--[[ Read only: walk one index zset of the queue by rank and keep the tasks
that pass the filters, so a listing examines the entries up to its page
rather than every task. One call examines a bounded number of entries; the
caller walks on from the returned rank.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] index: 'all', a status name, or 'tag'   ARGV[2] the tag (index 'tag') or ''
ARGV[3] start rank   ARGV[4] entries to examine at most   ARGV[5] '1' walks newest first
ARGV[6] matches to pass over   ARGV[7] matches to return
ARGV[8] '1' counts every match among the examined entries (else the walk stops
        once the page is full)
ARGV[9] statuses, comma-separated ('' any)   ARGV[10] worker ('' any)
ARGV[11..] tags the task must also carry
Returns {next rank (-1 when the index ended), entries examined, matches seen, id...}
]]
--- @include "includes/queue_keys.lua"

local ikey = Q[ARGV[1]]
if ARGV[1] == 'tag' then ikey = Q.tag_prefix .. ARGV[2] end
local start, budget = tonumber(ARGV[3]), tonumber(ARGV[4])
local skip, take, count_all = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8] == '1'
local statuses = nil
if ARGV[9] ~= '' then
  statuses = {}
  for s in string.gmatch(ARGV[9], '[^,]+') do statuses[s] = true end
end
local worker = ARGV[10]
local tags = {}
for i = 11, #ARGV do tags[#tags + 1] = ARGV[i] end

local cmd = 'ZRANGE'
if ARGV[5] == '1' then cmd = 'ZREVRANGE' end
local ids = redis.call(cmd, ikey, start, start + budget - 1)
local out = {0, 0, 0}
local matched, examined = 0, 0
for _, id in ipairs(ids) do
  examined = examined + 1
  local tkey = Q.task_prefix .. id
  local f = redis.call('HMGET', tkey, 'status', 'worker')
  local ok = f[1] and (statuses == nil or statuses[f[1]])
  if ok and worker ~= '' then ok = f[2] == worker end
  if ok then
    for _, t in ipairs(tags) do
      if not redis.call('ZSCORE', Q.tag_prefix .. t, id) then ok = false break end
    end
  end
  if ok then
    matched = matched + 1
    if matched > skip and #out - 3 < take then out[#out + 1] = id end
    if not count_all and #out - 3 >= take then break end
  end
end
local next_rank = start + examined
if examined == #ids and #ids < budget then next_rank = -1 end
out[1], out[2], out[3] = next_rank, examined, matched
return out
