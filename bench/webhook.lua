-- wrk script of `make bench` (bench/): POSTs pre-signed Clerk webhook
-- deliveries (Svix headers), each once.
--
--   wrk -s bench/webhook.lua URL -- DELIVERIES THREADS
--
-- DELIVERIES has one "<svix-id>\t<svix-timestamp>\t<svix-signature>\t<body>"
-- per line; thread k of THREADS sends the lines whose index is k modulo
-- THREADS, each once, and stops when it runs out (exhausted > 0 then, and
-- the rate is a lower bound: the bench generates more next time). done()
-- prints one line "WRKJSON {...}" that the bench parses (bench/wrkjson.lua).

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "wrkjson.lua")

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
   report(summary, latency, {"sent", "exhausted"})
end
