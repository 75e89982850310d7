-- wrk script shared by every scenario of bench/run.py.
--
-- Configured through the environment (wrk passes no arguments to `init` here):
--   BENCH_METHOD  GET (default) or POST
--   BENCH_PATHS   file with one request path per line (default: the URL's path)
--   BENCH_TOKENS  file with one bearer token per line (none: anonymous)
--   BENCH_BODIES  file with one JSON body per line (sent with Content-Type: application/json)
-- Requests cycle through paths, tokens and bodies independently.
-- `done` prints one line `BENCH_JSON {...}` with counts and latency percentiles (µs),
-- because wrk's own --latency table has no p95.

local function lines(path)
  local out = {}
  if path ~= nil and path ~= "" then
    for line in io.lines(path) do
      if line ~= "" then out[#out + 1] = line end
    end
  end
  return out
end

local method = os.getenv("BENCH_METHOD") or "GET"
local paths = lines(os.getenv("BENCH_PATHS"))
local tokens = lines(os.getenv("BENCH_TOKENS"))
local bodies = lines(os.getenv("BENCH_BODIES"))
local counter = 0

request = function()
  counter = counter + 1
  local headers = {}
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[(counter - 1) % #tokens + 1]
  end
  local body = nil
  if #bodies > 0 then
    body = bodies[(counter - 1) % #bodies + 1]
    headers["Content-Type"] = "application/json"
  end
  local path = wrk.path
  if #paths > 0 then path = paths[(counter - 1) % #paths + 1] end
  return wrk.format(method, path, headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean))
end
