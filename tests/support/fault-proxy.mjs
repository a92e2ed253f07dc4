// A fault-injecting HTTP proxy between the browser and the local DynamoDB stand-in.
// Tests switch it with POST /__fault {"mode": ..., "latencyMs": n, "times": n}:
//   pass       forward everything (default)
//   expired    400 ExpiredTokenException          invalid   400 UnrecognizedClientException
//   denied     400 AccessDeniedException           throttle  400 ProvisionedThroughputExceededException
//   5xx        500 InternalServerError             drop      destroy the connection (network error)
// `times` limits the fault to the next n requests, then back to pass; `after` lets the
// next n requests pass before the fault starts (a fault in the middle of a replay); `refuse`:
// a request whose body contains this text gets a ValidationException. latencyMs delays
// every forwarded request. GET /__stats returns {requests, byTarget, firstAt, lastAt} (per
// operation: counts, first and last arrival in ms, serverMs: time spent waiting for the
// server behind, answered: requests the server behind answered); POST /__stats/reset.
// CORS preflights are answered here, like DynamoDB does.
import http from 'node:http';

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'POST, GET, OPTIONS',
  'Access-Control-Allow-Headers': '*',
  'Access-Control-Expose-Headers': 'x-amzn-RequestId, x-amzn-ErrorType, x-amz-crc32, Date',
  'Access-Control-Max-Age': '600',
};

const FAULTS = {
  expired: [400, 'com.amazon.coral.service#ExpiredTokenException', 'The security token included in the request is expired'],
  invalid: [400, 'com.amazon.coral.service#UnrecognizedClientException', 'The security token included in the request is invalid.'],
  denied: [400, 'com.amazon.coral.service#AccessDeniedException', 'User is not authorized to perform this action'],
  throttle: [400, 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', 'The level of configured provisioned throughput for the table was exceeded.'],
  '5xx': [500, 'com.amazonaws.dynamodb.v20120810#InternalServerError', 'Internal server error'],
};

export async function startFaultProxy({ target, port = 0 }) {
  const t = new URL(target);
  const state = { mode: 'pass', latencyMs: 0, times: Infinity, after: 0, refuse: null };
  const stats = { requests: 0, byTarget: {}, firstAt: {}, lastAt: {}, serverMs: {}, answered: {} };
  const sockets = new Set();

  const readBody = (req) => new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
  const json = (res, status, obj, extra = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...CORS, ...extra });
    res.end(JSON.stringify(obj));
  };

  const server = http.createServer(async (req, res) => {
    try {
      if (req.url === '/__fault' && req.method === 'POST') {
        const body = JSON.parse((await readBody(req)).toString() || '{}');
        state.mode = body.mode ?? 'pass';
        state.latencyMs = body.latencyMs ?? state.latencyMs;
        state.times = body.times ?? Infinity;
        state.after = body.after ?? 0;
        state.refuse = body.refuse ?? null;
        return json(res, 200, state);
      }
      if (req.url === '/__stats') return json(res, 200, stats);
      if (req.url === '/__stats/reset' && req.method === 'POST') {
        stats.requests = 0;
        stats.byTarget = {};
        stats.firstAt = {};
        stats.lastAt = {};
        stats.serverMs = {};
        stats.answered = {};
        return json(res, 200, stats);
      }
      if (req.method === 'OPTIONS') {
        res.writeHead(200, CORS);
        return res.end();
      }
      const body = await readBody(req);
      const op = String(req.headers['x-amz-target'] || '').split('.').pop() || req.method;
      stats.requests += 1;
      stats.byTarget[op] = (stats.byTarget[op] || 0) + 1;
      stats.firstAt[op] ??= Date.now();
      stats.lastAt[op] = Date.now();
      if (state.latencyMs) await new Promise((r) => setTimeout(r, state.latencyMs));
      let mode = state.times > 0 ? state.mode : 'pass';
      if (state.after > 0) {
        state.after -= 1;
        mode = 'pass';
      }
      if (mode !== 'pass' && state.times !== Infinity) state.times -= 1;
      if (mode === 'drop') return req.socket.destroy();
      if (state.refuse && body.includes(state.refuse)) {
        // as DynamoDB answers an item it will not take (a write carrying the marker)
        const type = 'com.amazon.coral.validate#ValidationException';
        return json(res, 400, { __type: type, message: 'One or more parameter values were invalid: refused by the test' }, { 'x-amzn-ErrorType': 'ValidationException', 'x-amzn-RequestId': 'fault-proxy' });
      }
      if (FAULTS[mode]) {
        const [status, type, message] = FAULTS[mode];
        return json(res, status, { __type: type, message }, { 'x-amzn-ErrorType': type.split('#').pop(), 'x-amzn-RequestId': 'fault-proxy' });
      }
      const headers = { ...req.headers, host: t.host };
      const sent = Date.now();
      const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers }, (upRes) => {
        stats.answered[op] = (stats.answered[op] || 0) + 1;
        upRes.on('end', () => { stats.serverMs[op] = (stats.serverMs[op] || 0) + (Date.now() - sent); });
        // one set of CORS headers: the upstream's own would duplicate ours
        const headers = Object.fromEntries(Object.entries(upRes.headers).filter(([k]) => !k.startsWith('access-control-')));
        res.writeHead(upRes.statusCode, { ...headers, ...CORS });
        upRes.pipe(res);
      });
      up.on('error', () => req.socket.destroy()); // upstream down: the browser sees a network error
      up.end(body);
    } catch {
      req.socket.destroy();
    }
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = server.address().port;
  const url = `http://127.0.0.1:${actual}`;
  return {
    url,
    port: actual,
    set: async (opts) => (await fetch(`${url}/__fault`, { method: 'POST', body: JSON.stringify(opts) })).json(),
    stats: async () => (await fetch(`${url}/__stats`)).json(),
    resetStats: async () => (await fetch(`${url}/__stats/reset`, { method: 'POST' })).json(),
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
