// A small proxy in front of one of Cognito's stand-ins (cognito-local, moto's
// cognito-identity) for the browser: forwards every request, lets a test see it
// (`onRequest(req)`) and rewrite the JSON answer (`rewrite(json)` returns the new one or
// nothing), and answers CORS as AWS does. Returns the http.Server with `url`.
import http from 'node:http';

export async function jsonProxy(target, { onRequest = () => {}, rewrite = () => undefined } = {}) {
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    onRequest(req);
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
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Headers': '*',
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    });
    res.end(text);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  server.url = `http://127.0.0.1:${server.address().port}`;
  return server;
}
