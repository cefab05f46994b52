-- wrk script for bench/gateway.sh's memory scenario: every request carries the
-- next application cookie from TOKENS_FILE, so a long enough run pulls every
-- seeded session through the gateway's caches. Thread k of n starts k/n of the
-- way into the list, so the threads cover it together.
-- Usage: TOKENS_FILE=... HOST=... wrk -s bench/tokens.lua URL
local threads = 0
local tokens = {}
local i = 1
local host = os.getenv("HOST")

function setup(thread)
    thread:set("id", threads)
    threads = threads + 1
end

function init(args)
    for line in io.lines(os.getenv("TOKENS_FILE")) do
        tokens[#tokens + 1] = line
    end
    local n = tonumber(os.getenv("WRK_THREADS") or "1")
    i = 1 + math.floor(#tokens * (id or 0) / n)
end

function request()
    local tok = tokens[i]
    i = i % #tokens + 1
    return wrk.format("GET", "/", { ["Host"] = host, ["Cookie"] = "portcullis_app=" .. tok })
end
