-- POST Caliper envelopes whose event ids are fresh on every request.
--
-- wrk -t2 -c8 -d10s --latency -s post_fresh_ids.lua URL -- TEMPLATES KEY SALT
--
-- TEMPLATES holds one envelope per line, each event id written as the placeholder below.
-- A request takes the next template and replaces each placeholder with
-- SALT-THREAD-4000-8000-COUNTERINDEX (36 characters, like the placeholder, so the body keeps
-- its size): unique across threads, requests and events, and cheap enough that the client
-- stays far from being the bottleneck (one string.format and one table.concat per request).
-- done() prints one JSON line the benchmark parses (latencies in microseconds).

local PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local function split(line)
  local pieces, at = {}, 1
  while true do
    local s, e = string.find(line, PLACEHOLDER, at, true)
    if not s then
      table.insert(pieces, string.sub(line, at))
      return pieces
    end
    table.insert(pieces, string.sub(line, at, s - 1))
    at = e + 1
  end
end

function init(args)
  local path, key, salt = args[1], args[2], tonumber(args[3], 16)
  templates = {}
  for line in io.lines(path) do
    if #line > 0 then table.insert(templates, split(line)) end
  end
  suffixes = {}
  for i = 1, 100000 do suffixes[i] = string.format("%04x", i % 65536) end
  prefix_format = string.format("%08x-%04x-4000-8000-", salt, tid) .. "%08x"
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. key
  wrk.headers["Content-Type"] = "application/json"
  parts = {}
end

function request()
  local pieces = templates[(counter % #templates) + 1]
  local prefix = string.format(prefix_format, counter)
  counter = counter + 1
  local n = 1
  parts[n] = pieces[1]
  for i = 2, #pieces do
    parts[n + 1] = prefix
    parts[n + 2] = suffixes[i - 1]
    parts[n + 3] = pieces[i]
    n = n + 3
  end
  for i = n + 1, #parts do parts[i] = nil end
  return wrk.format(nil, nil, nil, table.concat(parts))
end

function done(summary, latency, requests)
  local s = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, s.status, s.connect, s.read, s.write,
    s.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
