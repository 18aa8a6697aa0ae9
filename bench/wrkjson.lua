-- Shared by the wrk scripts of `make bench` (bench/tokens.lua,
-- bench/webhook.lua), which load it with dofile: setup() numbers the threads
-- (each sees its number as the global id) and report() prints the one line
-- "WRKJSON {...}" that the bench parses, with the named per-thread counters
-- summed over the threads.

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("id", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

-- report is what a script's done() calls; counters names globals of the
-- threads, e.g. {"sent", "bad_sent"}.
function report(summary, latency, counters)
   local extra = ""
   for _, name in ipairs(counters) do
      local n = 0
      for _, t in ipairs(threads) do
         n = n + (t:get(name) or 0)
      end
      extra = extra .. string.format(',"%s":%d', name, n)
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
      '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"mean_us":%.1f%s}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      extra))
end
