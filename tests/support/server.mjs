// Tiny static HTTP server for Ledgerline's built PWA (dist/), node:http only.
//
//   import { startServer } from './support/server.mjs';
//   const srv = await startServer({ root: 'dist' });   // port 0 = pick a free port
//   ... srv.url ...                                     // 'http://127.0.0.1:PORT/'
//   await srv.close();            // stopped, every socket destroyed: the app is offline
//   const again = await startServer({ root: 'dist', port: srv.port }); // same origin back
//
//   node tests/support/server.mjs --root dist --port 8080 [--host 127.0.0.1] [--connect 'src …']
//
// Every response carries `Cache-Control: no-cache`, so only the service worker caches,
// and the build's Content Security Policy (`<root>/csp.json`, written by
// scripts/postbuild.py) with connect-src widened by `connect` (default: any port on
// 127.0.0.1 and localhost, where the local stand-ins run; `--connect ''` for AWS only,
// or `--connect 'https://dynamodb.example.com'` for a custom endpoint).
// GET/HEAD of an extension-less path that does not exist answers index.html (200, SPA
// routes); a missing file with an extension is a 404 (so a missing .wasm/.js is never
// masked by HTML).

import http from 'node:http';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

function contentTypeFor(filePath) {
  if (path.basename(filePath) === 'manifest.json') return 'application/manifest+json';
  return CONTENT_TYPES[path.extname(filePath).toLowerCase()] ?? 'application/octet-stream';
}

async function statFile(p) {
  try {
    const st = await fsp.stat(p);
    return st.isFile() ? st : null;
  } catch {
    return null;
  }
}

/** Map a URL path to a file under rootDir, or null if it escapes the root. */
function resolveInside(rootDir, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null; // malformed %-escape
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const full = path.resolve(rootDir, '.' + path.posix.normalize('/' + decoded));
  if (full !== rootDir && !full.startsWith(rootDir + path.sep)) return null;
  return full;
}

/** Also refuse symlinks that point outside the root. */
async function realInside(rootReal, filePath) {
  try {
    const real = await fsp.realpath(filePath);
    return real === rootReal || real.startsWith(rootReal + path.sep);
  } catch {
    return false;
  }
}

function sendText(req, res, status, text, extra = {}) {
  const body = Buffer.from(text + '\n');
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
    ...extra,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A precompressed copy (<file>.br or .gz, made by scripts/precompress.mjs) the client
 * accepts and that is at least as new as the file, if there is one. */
function precompressed(req, filePath, stat) {
  const accepted = String(req.headers['accept-encoding'] || '').split(',').map((s) => s.trim().split(';')[0]);
  for (const [enc, ext] of [['br', '.br'], ['gzip', '.gz']]) {
    if (!accepted.includes(enc)) continue;
    try {
      const st = fs.statSync(filePath + ext);
      if (st.isFile() && st.mtimeMs >= stat.mtimeMs) return { enc, path: filePath + ext, stat: st };
    } catch { /* none */ }
  }
  return null;
}

/** Where the local stand-ins answer: what a development server lets the app connect to. */
export const LOCAL_CONNECT = ['http://127.0.0.1:*', 'http://localhost:*'];

/** The build's policy (csp.json) with connect-src widened by `connect`, as a header value. */
export function policyOf(rootDir, connect = LOCAL_CONNECT) {
  let csp;
  try {
    csp = JSON.parse(fs.readFileSync(path.join(rootDir, 'csp.json'), 'utf8'));
  } catch (e) {
    throw new Error(`startServer: ${rootDir}/csp.json is missing or unreadable (${e.message}): build with trunk first`);
  }
  return Object.entries(csp.directives)
    .map(([name, sources]) => [name, ...(name === 'connect-src' ? [...sources, ...connect] : sources)].join(' '))
    .join('; ');
}

function sendFile(req, res, filePath, stat, policy) {
  const packed = precompressed(req, filePath, stat);
  res.writeHead(200, {
    'Content-Security-Policy': policy,
    'Referrer-Policy': 'no-referrer',
    'Content-Type': contentTypeFor(filePath),
    'Content-Length': packed ? packed.stat.size : stat.size,
    'Cache-Control': 'no-cache',
    'Last-Modified': stat.mtime.toUTCString(),
    'X-Content-Type-Options': 'nosniff',
    Vary: 'Accept-Encoding',
    ...(packed ? { 'Content-Encoding': packed.enc } : {}),
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = fs.createReadStream(packed ? packed.path : filePath);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

async function handle(rootDir, rootReal, policy, req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendText(req, res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
    return;
  }
  let urlPath;
  try {
    urlPath = new URL(req.url, 'http://localhost').pathname;
  } catch {
    sendText(req, res, 400, 'Bad Request');
    return;
  }
  const target = resolveInside(rootDir, urlPath);
  if (target === null) {
    sendText(req, res, 403, 'Forbidden');
    return;
  }

  // Exact file, or index.html of a directory.
  let filePath = target;
  let st = await statFile(filePath);
  if (!st) {
    const dirIndex = path.join(target, 'index.html');
    const dirSt = await statFile(dirIndex);
    if (dirSt) {
      filePath = dirIndex;
      st = dirSt;
    }
  }
  if (st) {
    if (!(await realInside(rootReal, filePath))) {
      sendText(req, res, 403, 'Forbidden');
      return;
    }
    sendFile(req, res, filePath, st, policy);
    return;
  }

  // SPA fallback: extension-less paths are app routes.
  const lastSegment = urlPath.split('/').pop() ?? '';
  if (path.extname(lastSegment) === '') {
    const indexPath = path.join(rootDir, 'index.html');
    const indexSt = await statFile(indexPath);
    if (indexSt) {
      sendFile(req, res, indexPath, indexSt, policy);
      return;
    }
  }
  sendText(req, res, 404, 'Not Found');
}

/**
 * Start the static server.
 * @returns {Promise<{url: string, port: number, close: () => Promise<void>}>}
 */
export async function startServer({ root = 'dist', port = 0, host = '127.0.0.1', connect = LOCAL_CONNECT } = {}) {
  const rootDir = path.resolve(root);
  const rootSt = await fsp.stat(rootDir).catch(() => null);
  if (!rootSt || !rootSt.isDirectory()) {
    throw new Error(`startServer: root directory ${rootDir} does not exist (build first?)`);
  }
  const rootReal = await fsp.realpath(rootDir);
  const policy = policyOf(rootDir, connect);

  const sockets = new Set();
  const server = http.createServer((req, res) => {
    handle(rootDir, rootReal, policy, req, res).catch((err) => {
      if (!res.headersSent) sendText(req, res, 500, 'Internal Server Error');
      else res.destroy(err);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise((resolve, reject) => {
    const onError = (err) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const actualPort = server.address().port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${actualPort}/`;

  let closing = null;
  const close = () => {
    if (closing) return closing;
    closing = new Promise((resolve, reject) => {
      let serverClosed = false;
      const waitForSockets = () => {
        if (!serverClosed) return;
        if (sockets.size === 0) {
          resolve();
          return;
        }
        for (const s of sockets) s.destroy();
        setImmediate(waitForSockets);
      };
      server.close((err) => {
        if (err && err.code !== 'ERR_SERVER_NOT_RUNNING') {
          reject(err);
          return;
        }
        serverClosed = true;
        waitForSockets();
      });
      server.closeAllConnections?.();
      for (const s of sockets) s.destroy();
    });
    return closing;
  };

  return { url, port: actualPort, close, policy };
}

// ---- run directly: node tests/support/server.mjs --root dist --port 8080 ----
const isMain = process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  const { values } = parseArgs({
    options: {
      root: { type: 'string', default: 'dist' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      connect: { type: 'string' },
    },
  });
  const port = Number.parseInt(values.port, 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`invalid --port ${values.port}`);
    process.exit(2);
  }
  try {
    const connect = values.connect === undefined ? LOCAL_CONNECT : values.connect.split(/\s+/).filter(Boolean);
    const srv = await startServer({ root: values.root, port, host: values.host, connect });
    console.log(`Ledgerline is running at ${srv.url}`);
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      await srv.close();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  } catch (err) {
    console.error(`server: ${err.message}`);
    process.exit(1);
  }
}
