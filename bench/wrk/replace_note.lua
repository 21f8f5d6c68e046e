-- PUT /notes/{id}: replace a random note that exists.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

local body = '{"text": "Replaced by the benchmark", "completed": true}'
local headers = {["Content-Type"] = "application/json"}

request = function()
   return wrk.format("PUT", "/notes/" .. random_id(), headers, body)
end
