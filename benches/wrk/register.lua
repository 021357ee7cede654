-- POST /nacos/v1/ns/instance, a new instance (ip) per request, into service `reg-bench`.
-- Each wrk thread counts in its own range, so the instances are distinct.
local threads = 0
local counter = 0
local base = 0

function setup(thread)
  threads = threads + 1
  thread:set("base", threads * 4000000)
end

function init(args)
  base = tonumber(wrk.thread:get("base")) or 0
end

request = function()
  counter = counter + 1
  local n = base + counter
  local ip = string.format("10.%d.%d.%d",
    math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format("POST", "/nacos/v1/ns/instance?serviceName=reg-bench&ip=" .. ip .. "&port=8080")
end
