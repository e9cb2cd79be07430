-- wrk script for the capture tests: requests cycle through WRK_PATHS (comma-separated), WRK_PIPELINE
-- requests are written back to back (HTTP/1.1 pipelining when > 1), and each thread stops after
-- WRK_LIMIT responses, so that a run is bounded in requests and not only in time.
local limit = tonumber(os.getenv("WRK_LIMIT") or "1000000000")
local depth = tonumber(os.getenv("WRK_PIPELINE") or "1")
local paths = {}
for p in string.gmatch(os.getenv("WRK_PATHS") or "/1k.bin", "[^,]+") do
  paths[#paths + 1] = p
end
local counter = 0
local batches = {}
local next_batch = 1

init = function(args)
  -- a few distinct batches, so that pipelined requests differ from one another
  for b = 1, #paths do
    local r = {}
    for i = 1, depth do
      r[i] = wrk.format(nil, paths[(b + i - 2) % #paths + 1])
    end
    batches[b] = table.concat(r)
  end
end

request = function()
  local req = batches[next_batch]
  next_batch = next_batch % #batches + 1
  return req
end

response = function(status, headers, body)
  counter = counter + 1
  if counter >= limit then
    wrk.thread:stop()
  end
end
