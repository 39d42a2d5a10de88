// The bare node:http baseline of the HTTP benchmarks: fixed JSON bodies (the bytes of real Griffin
// responses, so both move the same payload), no routing beyond a lookup, no auth, no database.
// Usage: node bench/baseline-server.mjs PORT NAME=BODY_FILE...   (GET /NAME answers that body)
import fs from 'node:fs';
import http from 'node:http';

const [port, ...specs] = process.argv.slice(2);
const bodies = new Map(specs.map((s) => [`/${s.slice(0, s.indexOf('='))}`, fs.readFileSync(s.slice(s.indexOf('=') + 1))]));
const server = http.createServer((req, res) => {
  const body = bodies.get(req.url) ?? Buffer.from('{}');
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
