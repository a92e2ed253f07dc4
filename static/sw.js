// Ledgerline service worker loader. Every listener is added here, during the first
// synchronous evaluation (browsers ignore fetch listeners added later), and each event
// is forwarded to Rust: the shell worker (worker.js + worker_bg.wasm: caching, offline
// answers) and, for sync jobs only, the sync engine (cloud-sw.js + cloud_bg.wasm: the
// same engine as the page's cloud worker, with the AWS SDK; never loaded to answer a fetch).
// scripts/postbuild.py fills BUILD and PRECACHE at build time, so every build is a new
// worker with its own cache, and writes cloud-sw.js (cloud.js defining `ledgerline_cloud`).
// Under the CSP's Trusted Types, importScripts takes TrustedScriptURLs: this worker's
// policy lets its own two scripts through, nothing else.
const SCRIPTS = self.trustedTypes
  ? self.trustedTypes.createPolicy('ledgerline-worker', {
    createScriptURL: (url) => {
      if (url === '/worker.js' || url === '/cloud-sw.js') return url;
      throw new TypeError(`not this worker's script: ${url}`);
    },
  })
  : { createScriptURL: (url) => url };
importScripts(SCRIPTS.createScriptURL('/worker.js'), SCRIPTS.createScriptURL('/cloud-sw.js'));

const BUILD = '__LEDGERLINE_BUILD__';
const PRECACHE = __LEDGERLINE_PRECACHE__;
const CACHE = 'ledgerline-shell-' + BUILD;
// Background Sync tags (app/src/background.rs asks for them).
const SYNC_TAG = 'ledgerline-replay';
const PERIODIC_TAG = 'ledgerline-periodic';
// Chromium gives a sync event about 3 minutes: a job still running after this long gives
// the event up (what was sent stays sent) and asks for another one for the rest.
const SYNC_BUDGET_MS = 150000;

// The shell worker's wasm comes from this build's cache when offline.
const ready = caches
  .open(CACHE)
  .then((c) => c.match('/worker_bg.wasm'))
  .then((cached) => wasm_bindgen({ module_or_path: cached || '/worker_bg.wasm' }));

// The sync engine, loaded on the first job.
let engine = null;
function loadEngine() {
  if (!engine) {
    engine = caches
      .open(CACHE)
      .then((c) => c.match('/cloud_bg.wasm'))
      .then((cached) => ledgerline_cloud({ module_or_path: cached || '/cloud_bg.wasm' }))
      .catch((e) => {
        engine = null;
        throw e;
      });
  }
  return engine;
}

let nextId = 1;
/** One request to the engine (the page's protocol, core/src/protocol.rs); its reply body. */
async function job(body) {
  await loadEngine();
  const text = await ledgerline_cloud.handle(JSON.stringify({ id: nextId++, body }));
  return JSON.parse(text).body;
}

// One replay at a time from this worker; the engine's Web Lock keeps it apart from every
// tab's cloud worker.
let running = null;
function replayAll() {
  if (!running) running = job('replayAll').finally(() => { running = null; });
  return running;
}

/** A sync event's work: fails (so the browser fires it again) when changes are left for
 * a reason that passes by itself, or when it ran out of time (then asks again; the job
 * goes on meanwhile, and the next event waits for it). */
async function syncJob() {
  const tuning = await readEngine('tuning').catch(() => null);
  const budget = (tuning && tuning.syncBudgetMs) || SYNC_BUDGET_MS;
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(null), budget); });
  const reply = await Promise.race([replayAll(), late]).finally(() => clearTimeout(timer));
  if (reply === null) {
    await self.registration.sync.register(SYNC_TAG).catch(() => {});
    // user '': the engine files it under the user this browser's sealed session proves
    await job({ log: { entry: {
      at: Date.now(), user: '', kind: 'background.late', invoiceId: null, outcome: 'retry', ms: budget, class: null,
      detail: `the sync event's time (${Math.round(budget / 1000)} s) ran out with changes left; asked for another`,
    } } }).catch(() => null);
    throw new Error('Ledgerline: the background replay ran out of time; asked for another');
  }
  const outcome = reply.job ? reply.job.outcome : 'retry';
  if (outcome === 'retry') throw new Error('Ledgerline: changes are left to send; the browser tries again');
}

/** One value of the engine's `context` store (IndexedDB `ledgerline-engine`), parsed;
 * null when missing. Never creates the database. `current`: whom the page syncs for and
 * how many changes wait; `tuning`: {syncBudgetMs}, a shorter sync budget (tests). */
function readEngine(key) {
  return new Promise((resolve) => {
    const open = indexedDB.open('ledgerline-engine');
    open.onupgradeneeded = () => open.transaction.abort();
    open.onerror = () => resolve(null);
    open.onsuccess = () => {
      const db = open.result;
      try {
        const get = db.transaction('context').objectStore('context').get(key);
        get.onsuccess = () => {
          db.close();
          try { resolve(JSON.parse(get.result || 'null')); } catch (_) { resolve(null); }
        };
        get.onerror = () => { db.close(); resolve(null); };
      } catch (_) {
        db.close();
        resolve(null);
      }
    };
  });
}

/** How many changes wait for the user the page last synced for (0 when unknown). */
const pendingHint = () => readEngine('current').then((c) => (c && c.pending) || 0);

/** A start for any reason, or the network back: send what waits, if anything (the
 * engine is loaded only then). A fallback where Background Sync is missing. */
function replayIfWaiting() {
  return pendingHint().then((n) => (n > 0 ? replayAll() : null)).catch(() => null);
}

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

self.addEventListener('sync', (event) => {
  if (event.tag === SYNC_TAG) event.waitUntil(syncJob());
});

// Installed app (Chromium), now and then: send what waits, then make the automatic
// export if one is due (from the latest copy the page keeps with every save).
self.addEventListener('periodicsync', (event) => {
  if (event.tag !== PERIODIC_TAG) return;
  // after a replay of this worker that is under way, not beside it
  event.waitUntil((running || Promise.resolve()).catch(() => null).then(() => job('periodic')).catch(() => null));
});

self.addEventListener('online', () => { replayIfWaiting(); });

self.addEventListener('message', (event) => {
  if (event.data === 'skip-waiting') self.skipWaiting();
});

// out of the way of the page that (likely) started this worker
setTimeout(replayIfWaiting, 5000);
