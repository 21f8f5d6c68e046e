-- GET /notes/{id}: a random note that exists.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

request = function()
   return wrk.format("GET", "/notes/" .. random_id())
end
