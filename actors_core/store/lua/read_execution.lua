-- read_execution.lua (after guard.lua): one execution's record, in the same round trip as the
-- guard. KEYS[K + 1]: the execution. Answers {'ok', field, value, ...} ({'ok'} when it is gone).
local record = redis.call('HGETALL', KEYS[K + 1])
table.insert(record, 1, 'ok')
return record
