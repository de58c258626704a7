import http from 'node:http';
import { formatTs, nowTicks } from '../../src/storage/timestamps.js';
import { SIZE_HEADER, STATUS_HEADER } from './common.js';

// The bare node:http server the load mix is compared with: it reads each request body in
// full and answers with the status and the body size the generator asks for (the sizes
// Foxden gave to that kind of request), with the same timestamp headers Foxden sends. It does
// nothing else: no routing, no auth, no database. Started by run.ts with the port as argv[2].

const MAX_BODY = 16 * 1024 * 1024;
let filler = Buffer.alloc(0);

function body(size: number): Buffer {
  if (size > filler.length) {
    filler = Buffer.alloc(Math.min(MAX_BODY, Math.max(size, 2 * filler.length, 64 * 1024)), 'x');
    filler[0] = 0x5b; // '['
  }
  return filler.subarray(0, Math.min(size, MAX_BODY));
}

const port = Number(process.argv[2]);
const server = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    const size = Number(req.headers[SIZE_HEADER] ?? 2);
    const status = Number(req.headers[STATUS_HEADER] ?? 200);
    const ts = formatTs(nowTicks());
    const out = body(Number.isFinite(size) && size >= 0 ? size : 2);
    res.writeHead(Number.isInteger(status) && status >= 200 && status < 600 ? status : 200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': out.length,
      'x-weave-timestamp': ts,
      'x-last-modified': ts,
    });
    res.end(out);
  });
});
// Fastify's default, so idle keep-alive connections live as long on both servers.
server.keepAliveTimeout = 72_000;
server.listen(port, '127.0.0.1');

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', () => process.exit(0));
