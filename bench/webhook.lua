-- wrk script of `make bench` (cmd/bench): POSTs pre-signed Clerk webhook
-- deliveries (Svix headers), each once.
--
--   wrk -s bench/webhook.lua URL -- DELIVERIES THREADS
--
-- DELIVERIES has one "<svix-id>\t<svix-timestamp>\t<svix-signature>\t<body>"
-- per line; thread k of THREADS sends the lines whose index is k modulo
-- THREADS, each once, and stops when it runs out (exhausted > 0 then, and
-- the rate is a lower bound: cmd/bench generates more next time). done()
-- prints one line "WRKJSON {...}" that cmd/bench parses.

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("id", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

function init(args)
   local n = tonumber(args[2])
   reqs = {}
   local k = 0
   for line in io.lines(args[1]) do
      if k % n == id then
         local sid, ts, sig, body = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
         reqs[#reqs + 1] = wrk.format("POST", "/api/webhooks/clerk", {
            ["svix-id"] = sid, ["svix-timestamp"] = ts, ["svix-signature"] = sig,
            ["Content-Type"] = "application/json" }, body)
      end
      k = k + 1
   end
   i = 0
   sent = 0
   exhausted = 0
end

function request()
   i = i + 1
   if i > #reqs then
      exhausted = 1
      wrk.thread:stop()
      i = 1
   end
   sent = sent + 1
   return reqs[i]
end

function done(summary, latency, requests)
   local s, ex = 0, 0
   for _, t in ipairs(threads) do
      s = s + (t:get("sent") or 0)
      ex = ex + (t:get("exhausted") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
      '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"mean_us":%.1f,"sent":%d,"exhausted":%d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      s, ex))
end
