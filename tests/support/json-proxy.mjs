// A small proxy in front of one of Cognito's stand-ins (cognito-local, moto's
// cognito-identity) for the browser: forwards every request, lets a test see it
// (`onRequest(req)`), answer in the stand-in's place (`answer(req)` returns
// `{status, json}` or nothing), rewrite the JSON answer (`rewrite(json)` returns the new
// one or nothing), and answers CORS as AWS does. Returns the http.Server with `url`.
import http from 'node:http';

export async function jsonProxy(target, { onRequest = () => {}, answer = () => undefined, rewrite = () => undefined } = {}) {
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    onRequest(req);
    const cors = {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Headers': '*',
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    };
    const own = req.method === 'POST' && answer(req);
    if (own) {
      res.writeHead(own.status, { 'Content-Type': 'application/x-amz-json-1.1', ...cors });
      res.end(JSON.stringify(own.json));
      return;
    }
    const upstream = await fetch(target + req.url, {
      method: req.method,
      headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k))),
      body: req.method === 'GET' || req.method === 'OPTIONS' ? undefined : Buffer.concat(chunks),
    });
    let text = await upstream.text();
    const json = (() => { try { return JSON.parse(text); } catch { return null; } })();
    const changed = json && rewrite(json);
    if (changed) text = JSON.stringify(changed);
    res.writeHead(upstream.status, {
      'Content-Type': upstream.headers.get('content-type') ?? 'application/json',
      ...cors,
    });
    res.end(text);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  server.url = `http://127.0.0.1:${server.address().port}`;
  return server;
}
