// Drives one server with autocannon: POSTs the given JSON bodies round-robin (one per request),
// prints one JSON line of stats. Used for both this service and PostGraphile, so both sides see
// the same load generator.  node drive.mjs URL CONNECTIONS SECONDS BODIES.json [HEADER=VALUE ...]
import autocannon from "autocannon";
import { readFileSync } from "node:fs";

const [url, connections, seconds, bodiesFile, ...headerArgs] = process.argv.slice(2);
const bodies = JSON.parse(readFileSync(bodiesFile, "utf8")).map((b) => JSON.stringify(b));
const headers = { "content-type": "application/json" };
for (const h of headerArgs) {
  const i = h.indexOf("=");
  headers[h.slice(0, i)] = h.slice(i + 1);
}
let next = 0;
const result = await autocannon({
  url,
  method: "POST",
  connections: Number(connections),
  duration: Number(seconds),
  headers,
  requests: [
    {
      setupRequest: (req) => {
        req.body = bodies[next++ % bodies.length];
        return req;
      },
    },
  ],
});
const errors = result.errors + result.non2xx + result.timeouts;
process.stdout.write(
  JSON.stringify({
    rps: result.requests.average,
    requests: result.requests.total,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors,
  }) + "\n",
);
