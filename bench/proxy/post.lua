-- wrk script: POST the batch in $BATCH (a file) as application/json.
local f = assert(io.open(os.getenv("BATCH"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
