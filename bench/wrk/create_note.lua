-- POST /notes: a new note.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

local body = '{"text": "Written by the benchmark", "completed": false}'
local headers = {["Content-Type"] = "application/json"}

request = function()
   return wrk.format("POST", "/notes", headers, body)
end
