// Ledgerline's cloud worker (a dedicated Web Worker, started by the page after its first
// render): loads the Rust cloud adapter (cloud.js + cloud_bg.wasm, built by trunk) and
// forwards every message to it. Requests that arrive while the wasm loads wait for it.
// Under the CSP's Trusted Types (require-trusted-types-for 'script'), importScripts takes
// a TrustedScriptURL: this worker's policy lets its own glue through, nothing else.
const scripts = self.trustedTypes
  ? self.trustedTypes.createPolicy('ledgerline-worker', {
    createScriptURL: (url) => {
      if (url === '/cloud.js') return url;
      throw new TypeError(`not this worker's script: ${url}`);
    },
  })
  : { createScriptURL: (url) => url };
importScripts(scripts.createScriptURL('/cloud.js'));

const ready = wasm_bindgen({ module_or_path: '/cloud_bg.wasm' });

self.onmessage = (event) => {
  ready
    .then(() => wasm_bindgen.handle(event.data))
    .then(
      (reply) => self.postMessage(reply),
      (error) => {
        let id = 0;
        try { id = JSON.parse(event.data).id; } catch (_) { /* unreadable request */ }
        self.postMessage(JSON.stringify({ id, body: { error: { message: String(error) } } }));
      },
    );
};
