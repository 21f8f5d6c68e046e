-- GET /notes?take=20: the first page.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

request = function()
   return wrk.format("GET", "/notes?take=20")
end
