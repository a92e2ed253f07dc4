// A fault-injecting HTTP proxy between the browser and the local DynamoDB stand-in.
// Tests switch it with POST /__fault {"mode": ..., "latencyMs": n, "times": n}:
//   pass       forward everything (default)
//   expired    400 ExpiredTokenException          invalid   400 UnrecognizedClientException
//   denied     400 AccessDeniedException           throttle  400 ProvisionedThroughputExceededException
//   5xx        500 InternalServerError             drop      destroy the connection (network error)
// `times` limits the fault to the next n requests, then back to pass; `after` lets the
// next n requests pass before the fault starts (a fault in the middle of a replay); `refuse`:
// a request whose body contains this text gets a ValidationException. latencyMs delays
// every forwarded request; latencyPerItemMs adds that much per action of a
// TransactWriteItems (a server slower the larger the transaction, as moto is). GET /__stats returns {requests, byTarget, firstAt, lastAt} (per
// operation: counts, first and last arrival in ms, serverMs: time spent waiting for the
// server behind, answered: requests the server behind answered; refused: requests the
// signature check refused, per error type, and lastRefused: the last one's operation, type
// and message); POST /__stats/reset. GetItem and PutItem of the user's number counter
// (sort key `#counter`) are counted as "GetItem#counter" and "PutItem#counter", those of
// client and profile records (`#client#…`, `#profile`) as "PutItem#record", and their
// Query as "Query#record", those of the change marker (`#changes`) as "GetItem#changes" and
// "PutItem#changes": a test counting PutItem, GetItem or Query counts invoices' requests.
// CORS preflights are answered here, like DynamoDB does.
//
// Signatures and request time, checked as DynamoDB does (dynalite and moto check neither):
// `startFaultProxy({ target, port, keys, verify })`. `keys` maps access key id -> secret
// (default KNOWN_KEYS from standins.mjs: LOCAL_KEYS and the e2e tests' Academy-shaped key).
// Every request but OPTIONS and /__fault, /__stats (and before any fault mode, `refuse` or
// forwarding; a refused request does not count towards `times`/`after`) is checked:
//   no Authorization header               400 MissingAuthenticationTokenException
//   Credential/SignedHeaders/Signature or the X-Amz-Date/Date header missing, a date that
//   is not ISO 8601 basic, another algorithm    400 IncompleteSignatureException
//   X-Amz-Date more than 5 min before/after the proxy's clock
//                                         400 InvalidSignatureException "Signature expired: ..."
//                                         / "Signature not yet current: ..." (AWS's wording)
//   an access key id not in `keys`        400 UnrecognizedClientException
//   credential scope not that date, not service dynamodb, host not signed
//                                         400 InvalidSignatureException
//   SigV4 signature not what the secret gives for this method, path, query, signed
//   headers and body                      400 InvalidSignatureException "The request signature
//                                         we calculated does not match ..."
// The session token (X-Amz-Security-Token) is not checked. The proxy's clock is Date.now()
// + clockOffsetMs; every response to a request (forwarded, faulted, refused, preflight)
// carries a Date header from it, replacing the server's, as AWS's does (the SDKs correct
// their clock skew from it). /__fault {"clockOffsetMs": n} moves the clock (n ms ahead,
// negative: behind); {"verify": false} turns the checks off (or startFaultProxy({verify:
// false})). Both stay until set again, like latencyMs; mode, times, after and refuse go
// back to their defaults on every /__fault that leaves them out.
// {"barrier": {"op": "GetItem#counter", "count": 2}} holds requests of that operation (as
// counted in stats) until `count` of them wait, then sends them all on at once (two devices
// reading the same value before either writes): once, or after `timeoutMs` (default
// 30000) with however many came. GET /__stats then has `barrier`: {op, held, timedOut}.
// It stays set until it releases or a /__fault sets {"barrier": null}.
import http from 'node:http';
import { KNOWN_KEYS, amzDate, parseAmzDate, canonicalRequest, sigv4Signature, sha256Hex } from './standins.mjs';

export { KNOWN_KEYS };

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

const FIVE_MIN = 5 * 60 * 1000;
const SERVICE = 'dynamodb';
export const REFUSALS = {
  missing: [400, 'com.amazon.coral.service#MissingAuthenticationTokenException', 'Request is missing Authentication Token'],
  unknownKey: FAULTS.invalid,
  mismatch: [400, 'com.amazon.coral.service#InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'],
};
const incomplete = (message) => [400, 'com.amazon.coral.service#IncompleteSignatureException', message];
const invalidSignature = (message) => [400, 'com.amazon.coral.service#InvalidSignatureException', message];

/** Request header name (lowercased) -> its values, from node's raw header list. */
function headerValues(req) {
  const out = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) (out[req.rawHeaders[i].toLowerCase()] ??= []).push(req.rawHeaders[i + 1]);
  return out;
}

/**
 * The SigV4 check AWS makes before it looks at a request: null when it passes, else
 * [status, __type, message] of AWS's answer. `now`: the proxy's clock in epoch ms.
 */
export function checkSignature(req, body, now, keys) {
  const auth = req.headers.authorization;
  if (!auth) return REFUSALS.missing;
  const [algorithm] = auth.trim().split(/\s+/, 1);
  const params = {};
  for (const part of auth.trim().split(/[,\s]+/).slice(1)) {
    const i = part.indexOf('=');
    if (i > 0) params[part.slice(0, i)] = part.slice(i + 1);
  }
  let msg = '';
  for (const p of ['Credential', 'Signature', 'SignedHeaders']) if (!params[p]) msg += `Authorization header requires '${p}' parameter. `;
  const amz = req.headers['x-amz-date'];
  if (!amz && !req.headers.date) msg += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ";
  if (msg) return incomplete(`${msg}Authorization=${auth}`);
  if (algorithm !== 'AWS4-HMAC-SHA256') return incomplete(`Unsupported AWS 'algorithm': '${algorithm}'`);
  // the request time: X-Amz-Date, else the HTTP Date header
  const dateText = amz ?? req.headers.date;
  const at = amz ? parseAmzDate(amz) : Date.parse(req.headers.date);
  if (Number.isNaN(at)) return incomplete(`Date must be in ISO-8601 'basic format'. Got '${dateText}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  const date = amzDate(at);
  if (at < now - FIVE_MIN) return invalidSignature(`Signature expired: ${date} is now earlier than ${amzDate(now - FIVE_MIN)} (${amzDate(now)} - 5 min.)`);
  if (at > now + FIVE_MIN) return invalidSignature(`Signature not yet current: ${date} is still later than ${amzDate(now + FIVE_MIN)} (${amzDate(now)} + 5 min.)`);
  // Credential=<key id>/<YYYYMMDD>/<region>/<service>/aws4_request
  const credential = params.Credential.split('/');
  const keyId = credential[0];
  if (!Object.hasOwn(keys, keyId)) return REFUSALS.unknownKey;
  if (credential.length !== 5) return incomplete(`Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${params.Credential}'`);
  const [, day, region, service, terminator] = credential;
  if (terminator !== 'aws4_request') return invalidSignature(`Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`);
  if (day !== date.slice(0, 8)) return invalidSignature(`Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${day}' != '${date.slice(0, 8)}', from '${dateText}'.`);
  if (service !== SERVICE) return invalidSignature(`Credential should be scoped to correct service: '${SERVICE}'. `);
  const signedHeaders = params.SignedHeaders.toLowerCase().split(';');
  if (!signedHeaders.includes('host') && !signedHeaders.includes(':authority')) return invalidSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  const url = new URL(req.url, 'http://proxy');
  const canonical = canonicalRequest({ method: req.method, path: url.pathname, query: url.search, headers: headerValues(req), signedHeaders, payloadHash: sha256Hex(body) });
  const expected = sigv4Signature({ secretAccessKey: keys[keyId], date: amz ? amz : date, scope: { day, region, service }, canonical });
  if (expected !== params.Signature.toLowerCase()) return REFUSALS.mismatch;
  return null;
}

export async function startFaultProxy({ target, port = 0, keys = KNOWN_KEYS, verify = true }) {
  const t = new URL(target);
  if (keys instanceof Map) keys = Object.fromEntries(keys);
  const state = { mode: 'pass', latencyMs: 0, latencyPerItemMs: 0, times: Infinity, after: 0, refuse: null, clockOffsetMs: 0, verify, barrier: null };
  const stats = { requests: 0, byTarget: {}, firstAt: {}, lastAt: {}, serverMs: {}, answered: {}, refused: {}, lastRefused: null };
  /** The proxy's clock (epoch ms) and its HTTP-date, for the Date header of every answer. */
  const now = () => Date.now() + state.clockOffsetMs;
  const httpDate = () => ({ Date: new Date(now()).toUTCString() });
  const sockets = new Set();
  /** Sends on every request a barrier holds, once. */
  const openBarrier = (b, timedOut) => {
    clearTimeout(b.timer);
    if (state.barrier === b) state.barrier = null;
    stats.barrier = { op: b.op, held: b.waiting.length, timedOut };
    for (const release of b.waiting.splice(0)) release();
  };

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
  /** An AWS JSON error answer, stamped with the proxy's clock. */
  const awsError = (res, [status, type, message]) =>
    json(res, status, { __type: type, message }, { 'x-amzn-ErrorType': type.split('#').pop(), 'x-amzn-RequestId': 'fault-proxy', ...httpDate() });

  const server = http.createServer(async (req, res) => {
    try {
      if (req.url === '/__fault' && req.method === 'POST') {
        const body = JSON.parse((await readBody(req)).toString() || '{}');
        state.mode = body.mode ?? 'pass';
        state.latencyMs = body.latencyMs ?? state.latencyMs;
        state.latencyPerItemMs = body.latencyPerItemMs ?? state.latencyPerItemMs;
        state.times = body.times ?? Infinity;
        state.after = body.after ?? 0;
        state.refuse = body.refuse ?? null;
        state.clockOffsetMs = body.clockOffsetMs ?? state.clockOffsetMs;
        state.verify = body.verify ?? state.verify;
        if ('barrier' in body) {
          if (state.barrier) openBarrier(state.barrier, true);
          state.barrier = body.barrier && { op: body.barrier.op, count: body.barrier.count, waiting: [] };
          if (state.barrier) {
            const b = state.barrier;
            b.timer = setTimeout(() => openBarrier(b, true), body.barrier.timeoutMs ?? 30000);
          }
        }
        return json(res, 200, { ...state, barrier: state.barrier && { op: state.barrier.op, count: state.barrier.count } });
      }
      if (req.url === '/__stats') return json(res, 200, stats);
      if (req.url === '/__stats/reset' && req.method === 'POST') {
        stats.requests = 0;
        stats.byTarget = {};
        stats.firstAt = {};
        stats.lastAt = {};
        stats.serverMs = {};
        stats.answered = {};
        stats.refused = {};
        stats.lastRefused = null;
        delete stats.barrier;
        return json(res, 200, stats);
      }
      if (req.method === 'OPTIONS') {
        res.writeHead(200, { ...CORS, ...httpDate() });
        return res.end();
      }
      const body = await readBody(req);
      let op = String(req.headers['x-amz-target'] || '').split('.').pop() || req.method;
      // the number counter's and the records' reads and writes are counted apart
      if (op === 'GetItem' || op === 'PutItem') {
        try {
          const b = JSON.parse(body.toString());
          const key = (b.Key || b.Item)?.invoiceId?.S;
          if (key === '#counter') op += '#counter';
          else if (key === '#changes') op += '#changes';
          else if (key?.startsWith('#')) op += '#record';
        } catch { /* not JSON: counted as it is */ }
      } else if (op === 'Query' && body.toString().includes('begins_with')) {
        op += '#record';
      }
      stats.requests += 1;
      stats.byTarget[op] = (stats.byTarget[op] || 0) + 1;
      stats.firstAt[op] ??= Date.now();
      stats.lastAt[op] = Date.now();
      if (state.barrier && op === state.barrier.op) {
        const b = state.barrier;
        await new Promise((release) => {
          b.waiting.push(release);
          if (b.waiting.length >= b.count) openBarrier(b, false);
        });
      }
      let delay = state.latencyMs;
      if (state.latencyPerItemMs && op === 'TransactWriteItems') {
        try { delay += state.latencyPerItemMs * (JSON.parse(body.toString()).TransactItems?.length || 0); } catch { /* counted without */ }
      }
      if (delay) await new Promise((r) => setTimeout(r, delay));
      const refusal = state.verify ? checkSignature(req, body, now(), keys) : null;
      if (refusal) {
        const type = refusal[1].split('#').pop();
        stats.refused[type] = (stats.refused[type] || 0) + 1;
        stats.lastRefused = { op, type, message: refusal[2], at: Date.now() };
        return awsError(res, refusal);
      }
      let mode = state.times > 0 ? state.mode : 'pass';
      if (state.after > 0) {
        state.after -= 1;
        mode = 'pass';
      }
      if (mode !== 'pass' && state.times !== Infinity) state.times -= 1;
      if (mode === 'drop') return req.socket.destroy();
      if (state.refuse && body.includes(state.refuse)) {
        // as DynamoDB answers an item it will not take (a write carrying the marker)
        return awsError(res, [400, 'com.amazon.coral.validate#ValidationException', 'One or more parameter values were invalid: refused by the test']);
      }
      if (FAULTS[mode]) return awsError(res, FAULTS[mode]);
      const headers = { ...req.headers, host: t.host };
      const sent = Date.now();
      const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers }, (upRes) => {
        stats.answered[op] = (stats.answered[op] || 0) + 1;
        upRes.on('end', () => { stats.serverMs[op] = (stats.serverMs[op] || 0) + (Date.now() - sent); });
        // one set of CORS headers: the upstream's own would duplicate ours; the proxy's Date
        const headers = Object.fromEntries(Object.entries(upRes.headers).filter(([k]) => !k.startsWith('access-control-') && k !== 'date'));
        res.writeHead(upRes.statusCode, { ...headers, ...CORS, ...httpDate() });
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
