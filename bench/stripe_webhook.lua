-- wrk script for bench/stripe_webhook.py: posts pre-signed, distinct Stripe events (one per line of the file
-- AFFICONE_BENCH_EVENTS: "<Stripe-Signature>\t<body>"), each thread its own share, so every request is a new event.
local path = os.getenv("AFFICONE_BENCH_EVENTS")
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  events = {}
  local nthreads = tonumber(os.getenv("AFFICONE_BENCH_THREADS") or "2")
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == id - 1 then
      local tab = string.find(line, "\t", 1, true)
      table.insert(events, {string.sub(line, 1, tab - 1), string.sub(line, tab + 1)})
    end
    i = i + 1
  end
  n = 0
end

request = function()
  n = n + 1
  local event = events[((n - 1) % #events) + 1]
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Stripe-Signature"] = event[1]}, event[2])
end
