// The Express ceiling of the HTTP benchmarks: a hello-world on the project's own Express (the
// version Griffin serves with), answering the same bytes as the Griffin response it stands beside.
// No middleware, no auth, no database: what Express itself costs per request.
// Usage: node bench/baseline-express.mjs PORT NAME=BODY_FILE...   (GET /NAME answers that body)
import fs from 'node:fs';
import express from 'express';

const [port, ...specs] = process.argv.slice(2);
const app = express();
app.disable('x-powered-by');
for (const s of specs) {
  const body = fs.readFileSync(s.slice(s.indexOf('=') + 1));
  app.get(`/${s.slice(0, s.indexOf('='))}`, (_req, res) => {
    res.type('application/json').send(body);
  });
}
app.get('/', (_req, res) => {
  res.json({});
});
const server = app.listen(Number(port), '127.0.0.1');
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
