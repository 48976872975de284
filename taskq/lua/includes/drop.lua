-- Drop task id and everything that is only about it: its entry in the
-- zset of its status, in the all-tasks, expiry and tag indexes, its hash,
-- log and dependency sets. `tags` is the task's tags field (JSON) or nil.
-- What else a task leaves (dedupe key, dependents elsewhere, a tombstone)
-- is the caller's: delete-30.lua, includes/retention.lua.
local function drop_task(Q, id, status, tags)
  redis.call('ZREM', Q[status], id)
  redis.call('ZREM', Q.all, id)
  redis.call('ZREM', Q.expiry, id)
  if tags then
    for _, tag in ipairs(cjson.decode(tags)) do redis.call('ZREM', Q.tag_prefix .. tag, id) end
  end
  redis.call('DEL', Q.task_prefix .. id, Q.log_prefix .. id, Q.waiting_prefix .. id,
    Q.dependents_prefix .. id)
end
