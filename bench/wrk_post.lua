-- wrk script: POST JSON bodies read from a file (one body per line), in rotation.
--   wrk -t2 -c16 -d20s --latency -s bench/wrk_post.lua http://127.0.0.1:8000/v1/predict -- bodies.jsonl
-- Every wrk thread loads its own copy; requests are formatted once, in init, so the load
-- generator spends its time on the network rather than on building requests.

local requests = {}
local next_index = 0

function init(args)
  local path = args[1]
  if path == nil then
    error("usage: wrk ... -s wrk_post.lua URL -- BODIES.jsonl")
  end
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(path) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", nil, headers, line)
    end
  end
  if #requests == 0 then
    error("no request bodies in " .. path)
  end
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
