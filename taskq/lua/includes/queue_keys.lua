-- The queue's keys, in taskq.keys.SCRIPT_KEY_NAMES order (a test keeps them in step).
-- Every script receives exactly these KEYS; per-task keys are built only by
-- appending an id to one of the *_prefix keys, which carry the queue's hash tag.
local Q = {
  meta = KEYS[1], queued = KEYS[2], delayed = KEYS[3], blocked = KEYS[4],
  running = KEYS[5], completed = KEYS[6], failed = KEYS[7], cancelled = KEYS[8],
  all = KEYS[9], stats = KEYS[10], events = KEYS[11], conc = KEYS[12],
  outbox = KEYS[13], wake = KEYS[14], series = KEYS[15],
  task_prefix = KEYS[16], log_prefix = KEYS[17], waiting_prefix = KEYS[18],
  dependents_prefix = KEYS[19], dedupe_prefix = KEYS[20], tag_prefix = KEYS[21],
  parked_prefix = KEYS[22], held_prefix = KEYS[23], notify_prefix = KEYS[24],
  expiry = KEYS[25], gone = KEYS[26], rates = KEYS[27], rate_prefix = KEYS[28],
  rate_parked_prefix = KEYS[29], rate_due = KEYS[30],
}
-- The queue's own name, read from the hash tag of a declared key.
Q.name = string.match(Q.task_prefix, '{(.-)}')
