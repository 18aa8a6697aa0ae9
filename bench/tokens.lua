-- wrk script of `make bench` (bench/): GET requests that rotate over a
-- file of bearer tokens, optionally mixing in a share of bad tokens.
--
--   wrk -s bench/tokens.lua URL -- TOKENS PATH [BAD_TOKENS BAD_EVERY]
--
-- TOKENS has one "<workspace-id> <token>" per line ("-" sends no
-- Authorization header); PATH may contain {ws}, replaced by the line's
-- workspace id. Every BAD_EVERY-th request of a thread carries the next
-- token of BAD_TOKENS instead. Every request is formatted once in init, so
-- the script costs wrk little per request. done() prints one line
-- "WRKJSON {...}" that the bench parses (bench/wrkjson.lua).

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "wrkjson.lua")

local function load(file, path)
   local reqs = {}
   if file == "-" then
      reqs[1] = wrk.format("GET", path)
      return reqs
   end
   for line in io.lines(file) do
      local ws, tok = line:match("^(%S+) (%S+)$")
      if tok then
         local p = path:gsub("{ws}", ws)
         reqs[#reqs + 1] = wrk.format("GET", p, { ["Authorization"] = "Bearer " .. tok })
      end
   end
   return reqs
end

function init(args)
   reqs = load(args[1], args[2])
   bad = {}
   every = 0
   if args[3] then
      bad = load(args[3], args[2])
      every = tonumber(args[4])
   end
   -- Threads start at different places of the rotation.
   i = (id * 7919) % #reqs
   b = (id * 104729) % math.max(#bad, 1)
   sent = 0
   bad_sent = 0
end

function request()
   sent = sent + 1
   if every > 0 and sent % every == 0 then
      bad_sent = bad_sent + 1
      b = b % #bad + 1
      return bad[b]
   end
   i = i % #reqs + 1
   return reqs[i]
end

function done(summary, latency, requests)
   report(summary, latency, {"sent", "bad_sent"})
end
