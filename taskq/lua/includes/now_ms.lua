-- One clock for everything: the Redis server's.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- An integer as the text Redis stores. A Lua number passed to redis.call is
-- formatted with %.17g (a float conversion, the costliest part of a short
-- command on the hot path); %d is an integer conversion. Hot scripts pass
-- timestamps, counts and lengths through this, once per value.
local function int_text(x)
  return string.format('%d', x)
end
