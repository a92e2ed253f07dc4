// Ledgerline service worker loader. Every listener is added here, during the first
// synchronous evaluation (browsers ignore fetch listeners added later), and each event
// is forwarded to the Rust worker (worker.js + worker_bg.wasm, built by trunk).
// scripts/postbuild.py fills BUILD and PRECACHE at build time, so every build is a new
// worker with its own cache.
importScripts('/worker.js');

const BUILD = '__LEDGERLINE_BUILD__';
const PRECACHE = __LEDGERLINE_PRECACHE__;
const CACHE = 'ledgerline-shell-' + BUILD;

// The worker's own wasm comes from this build's cache when offline.
const ready = caches
  .open(CACHE)
  .then((c) => c.match('/worker_bg.wasm'))
  .then((cached) => wasm_bindgen({ module_or_path: cached || '/worker_bg.wasm' }));

self.addEventListener('install', (event) => {
  event.waitUntil(ready.then(() => wasm_bindgen.on_install(CACHE, PRECACHE)));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(ready.then(() => wasm_bindgen.on_activate(CACHE)).then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(ready.then(() => wasm_bindgen.on_fetch(CACHE, request)));
});

self.addEventListener('message', (event) => {
  if (event.data === 'skip-waiting') self.skipWaiting();
});
