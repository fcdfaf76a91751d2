-- guard.lua: the start of every front-door script (store/scripts.py puts it before the body).
--
-- KEYS[1]          the revoked-token key of the caller's token
-- ARGV[1]          '1' to refuse a revoked token (the caller's token has an id), else '0'
-- ARGV[2]          n, the number of guarded hashes
-- KEYS[1 + i]      guarded hash i (i = 1..n); ARGV[1 + 2i] its fields and ARGV[2 + 2i] the raw
--                  values the caller's access decision read there, each ended by a NUL byte
--                  (an absent field read as nothing)
--
-- Answers {'revoked'} or {'stale'}, having changed nothing, when the token was revoked or a
-- value the decision rested on is no longer what it read (store/access.py). Otherwise the body
-- runs, finding its own keys at KEYS[K + 1], KEYS[K + 2], ... and arguments at ARGV[A + 1], ...
local unpack = unpack or table.unpack

local function parts(text)  -- the NUL-ended parts of text
  local found, start = {}, 1
  while start <= #text do
    local stop = string.find(text, '\0', start, true)
    found[#found + 1] = string.sub(text, start, stop - 1)
    start = stop + 1
  end
  return found
end

if ARGV[1] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return {'revoked'} end
local guards = tonumber(ARGV[2])
for i = 1, guards do
  local values = redis.call('HMGET', KEYS[1 + i], unpack(parts(ARGV[1 + 2 * i])))
  for j = 1, #values do values[j] = (values[j] or '') .. '\0' end
  if table.concat(values) ~= ARGV[2 + 2 * i] then return {'stale'} end
end
local K, A = 1 + guards, 2 + 2 * guards
