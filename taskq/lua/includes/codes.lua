-- Result codes, mirrored in taskq/errors.py.
local OK, NOOP = 1, 0
local E_NOT_FOUND, E_LEASE, E_STATE, E_EXISTS, E_DEP_MISSING = -1, -2, -3, -4, -5
local EVENTS_MAXLEN = '10000' -- text: passed to every XADD as is
local PRIORITY_MAX = 1000
local SEQ_SPAN = 4398046511104 -- 2^42: FIFO sequence room inside one priority
