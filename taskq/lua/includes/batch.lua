-- Variadic commands in bounded chunks (Lua's unpack has a stack limit).
local function call_chunked(cmd, key, args, per)
  per = per or 1000
  for i = 1, #args, per do
    redis.call(cmd, key, unpack(args, i, math.min(i + per - 1, #args)))
  end
end
