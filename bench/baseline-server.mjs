// The baseline of the GET benchmark: a bare node:http server answering one fixed JSON body (the
// bytes of a real GET /api/v1/runs/{id} response, so both move the same payload), no routing,
// no auth, no database. Usage: node bench/baseline-server.mjs PORT BODY_FILE
import fs from 'node:fs';
import http from 'node:http';

const [port, bodyFile] = process.argv.slice(2);
const body = fs.readFileSync(bodyFile);
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
