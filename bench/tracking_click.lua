-- wrk script for bench/tracking_click.py: the POST that t.js sends, from a different visitor address each time.
local key = os.getenv("AFFICONE_BENCH_KEY") or "pk_unknown"
local code = os.getenv("AFFICONE_BENCH_CODE") or "bench"
wrk.method = "POST"
wrk.body = '{"k":"' .. key .. '","c":"' .. code .. '","u":"https://shop.example/pricing?ref=' .. code ..
  '","r":"https://blog.example/best-tools","p":null}'
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
end

request = function()
  wrk.headers["X-Real-IP"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  return wrk.format()
end
