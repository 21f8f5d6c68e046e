-- Shared by every scenario: ids to pick from, and a JSON summary line wrk prints when it ends.
ids = tonumber(os.getenv("BENCH_IDS") or "10000")

function random_id()
   return math.random(1, ids)
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non_2xx": %d, ' ..
      '"socket_errors": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
