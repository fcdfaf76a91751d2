-- submit.lua (after guard.lua, with work.py's WAKE_LUA and timeline.py's APPEND_LUA before it):
-- a message becomes a SUBMITTED execution, its ACCEPTED and QUEUED events and, if a slot can
-- take it, a wake-up, all or nothing, in one round trip. store/executions.py lays it out.
--
-- KEYS[K + 1..9]  the sequence counter, the execution, its message, the actor's executions,
--                 its mailbox, the set of mailboxes, the actor's and the tenant's by-time
--                 indexes, the SUBMITTED status set
-- ARGV[A + 1..10] execution id, actor id, arrival (epoch seconds), message body, e (the
--                 number of events), the actor's capacity, its lease key prefix, the wake-up
--                 list, the pending wake-ups hash, n
-- ARGV[A + 11 ..] the record's own n field/value pairs (JSON values), then e events of 12
--                 values each (timeline.py's Timeline.event specs, appended together)
-- SUBMITTED:      the fields every new execution starts with, compiled in ahead of this file
--                 by store/scripts.py (store/executions.py SUBMITTED_FIELDS)
-- Answers {'ok', sequence}.
local seq = redis.call('INCR', KEYS[K + 1])
local eid, aid, arrival = ARGV[A + 1], ARGV[A + 2], ARGV[A + 3]
local first = A + 11
local last = first + 2 * tonumber(ARGV[A + 10]) - 1

-- the execution and its place in the actor's history and mailbox
local record = {'sequence', seq, unpack(SUBMITTED)}
for i = first, last do record[#record + 1] = ARGV[i] end
redis.call('HSET', KEYS[K + 2], unpack(record))
redis.call('SET', KEYS[K + 3], ARGV[A + 4])
redis.call('ZADD', KEYS[K + 4], seq, eid)
redis.call('ZADD', KEYS[K + 5], seq, eid)
redis.call('SADD', KEYS[K + 6], aid)

-- the search indexes (store/indexes.py index_submitted)
redis.call('ZADD', KEYS[K + 7], arrival, eid)
redis.call('ZADD', KEYS[K + 8], arrival, eid)
redis.call('SADD', KEYS[K + 9], eid)

-- ACCEPTED and QUEUED (timeline.py), then a wake-up if a free worker has none promised
local events = {}
for event = 0, tonumber(ARGV[A + 5]) - 1 do
  events[event + 1] = {unpack(ARGV, last + 1 + 12 * event, last + 12 * (event + 1))}
end
append_together(events)
wake(aid, KEYS[K + 5], ARGV[A + 7], tonumber(ARGV[A + 6]), ARGV[A + 8], ARGV[A + 9])

return {'ok', seq}
