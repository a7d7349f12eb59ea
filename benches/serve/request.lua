-- wrk script: POST /get-online-features for BATCH random ids drawn from IDS_FILE,
-- asking for the FEATURES given (comma-separated `view:feature`; common.sh
-- sets every feature of the demo view) — the same requests as
-- `quiver simulate --target http --batch-size BATCH`.
-- Usage: BATCH=1 IDS_FILE=ids.txt FEATURES=v:a,v:b wrk -s request.lua http://127.0.0.1:6566
local ids = {}
local batch = tonumber(os.getenv("BATCH") or "1")
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end

local features = {}
for name in string.gmatch(os.getenv("FEATURES") or error("set FEATURES (view:feature,...)"), "[^,]+") do
  features[#features + 1] = '"' .. name .. '"'
end
local features_json = "[" .. table.concat(features, ",") .. "]"

wrk.method = "POST"
wrk.path = "/get-online-features"
wrk.headers["Content-Type"] = "application/json"

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local chosen, seen = {}, {}
  while #chosen < batch do
    local id = ids[math.random(#ids)]
    if not seen[id] then seen[id] = true; chosen[#chosen + 1] = '"' .. id .. '"' end
  end
  local body = '{"entities":{"id":[' .. table.concat(chosen, ",") .. ']},"features":' .. features_json .. '}'
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("wrk: %.0f req/s, p50 %.0f us, p99 %.0f us, p99.9 %.0f us, errors %d (socket) %d (non-2xx)\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
