// Security (issue 11): the Content Security Policy every response carries, and a run
// through the whole app (anonymous and signed in, syncing with the stand-ins) that
// reports no violation of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { dist, ready, tid, nav, addClient, newInvoice, download, root } from './helpers.mjs';
import { startCloudStack, kit } from './cloud-stack.mjs';

let stack;
before(async () => {
  stack = await startCloudStack('security');
});
after(async () => {
  await stack?.stop();
});
const { signedIn, status, remote, until, quickInvoice } = kit(() => stack);

/** The policy's directives: {name: [sources]}. */
const directives = (header) => Object.fromEntries(header.split(';').map((d) => d.trim().split(/\s+/)).map(([n, ...v]) => [n, v]));

test('every response carries a strict Content Security Policy: scripts from this origin and the hash of the inline loader, connections to this origin, AWS and the local stand-ins', async () => {
  const index = fs.readFileSync(path.join(dist, 'index.html'), 'utf8');
  const inline = [...index.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)].filter(([, attrs]) => !attrs.includes('src='));
  assert.equal(inline.length, 1, 'trunk writes one inline loader');
  const hash = `'sha256-${crypto.createHash('sha256').update(inline[0][2], 'utf8').digest('base64')}'`;
  const app = /href=\/?(ledgerline-app-[0-9a-f]+\.js)/.exec(index)[1];
  for (const url of ['', 'invoices', 'settings', 'sw.js', 'worker.js', 'cloud-worker.js', 'cloud.js', 'cloud-sw.js', app, 'manifest.json', 'no-such-file.js']) {
    const r = await fetch(stack.server.url + url);
    const header = r.headers.get('content-security-policy');
    assert.ok(header, `${url || '/'}: no Content-Security-Policy`);
    const d = directives(header);
    assert.deepEqual(d['default-src'], ["'none'"], url);
    assert.deepEqual(d['frame-ancestors'], ["'none'"], url);
    if (r.status === 404) continue;
    assert.deepEqual(d['script-src'], ["'self'", "'wasm-unsafe-eval'", hash], `${url}: script-src`);
    assert.deepEqual(d['worker-src'], ["'self'"]);
    assert.deepEqual(d['connect-src'], ["'self'", 'https://*.amazonaws.com', 'http://127.0.0.1:*', 'http://localhost:*']);
    assert.deepEqual(d['img-src'], ["'self'", 'data:']);
    assert.deepEqual(d['trusted-types'], ['ledgerline', 'ledgerline-worker'], `${url}: trusted-types`);
    for (const [name, value] of [['style-src', "'self'"], ['manifest-src', "'self'"], ['object-src', "'none'"], ['base-uri', "'none'"], ['form-action', "'none'"], ['require-trusted-types-for', "'script'"]]) {
      assert.deepEqual(d[name], [value], `${url}: ${name}`);
    }
    assert.ok(!header.includes("'unsafe-inline'") && !header.includes("'unsafe-eval'"), header);
  }
  // the build's policy, for servers other than ours
  const built = JSON.parse(fs.readFileSync(path.join(dist, 'csp.json'), 'utf8'));
  assert.deepEqual(built.directives['script-src'], ["'self'", "'wasm-unsafe-eval'", hash]);
  assert.deepEqual(built.directives['connect-src'], ["'self'", 'https://*.amazonaws.com']);
});

test('a run through the whole app, signed in and syncing, reports no Content Security Policy violation', async () => {
  const violations = [];
  const a = await signedIn('csp@ledgerline.test', {});
  const watch = async (page) => {
    await page.exposeBinding('reportCsp', (_src, v) => violations.push(v)).catch(() => {});
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => window.reportCsp({
        directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber, sample: e.sample,
      }));
    });
  };
  await watch(a.page);
  await a.page.reload();
  await ready(a.page);
  await status(a.page, 'connected');

  // everything a user does in a session: clients, invoices, a logo, print, exports, the
  // log, settings, backups, conflicts; sync to DynamoDB and back
  await addClient(a.page, 'CSP Client', { email: 'c@example.com', address: '1 Policy Street' });
  await quickInvoice(a.page, 'Policy checked');
  await until('the invoice in DynamoDB', async () => (await remote(a.sub)).length === 1);
  await nav(a.page, 'Settings');
  await tid(a.page, 'profile-logo').setInputFiles(path.join(root, 'static/icons/icon-192.png'));
  await tid(a.page, 'profile-save').click();
  await nav(a.page, 'Invoices');
  await tid(a.page, 'invoice-row').first().getByRole('link', { name: 'Print', exact: true }).click();
  await a.page.locator('img.logo').waitFor();
  assert.ok(await a.page.locator('img.logo').evaluate((img) => img.complete && img.naturalWidth > 0), 'the logo (a data: URL) is shown');
  await a.page.goBack();
  await nav(a.page, 'Data');
  await download(a.page, 'export-json');
  await tid(a.page, 'log-show').click();
  await tid(a.page, 'log-row').first().waitFor();
  for (const name of ['Conflicts', 'Clients', 'Account', 'Settings', 'Invoices']) {
    const link = tid(a.page, 'nav').getByRole('link', { name, exact: true });
    if (await link.count()) await link.click();
  }
  await newInvoice(a.page, { client: 'CSP Client', lines: [{ desc: 'Second', qty: '2', price: '5' }] });
  await until('both invoices in DynamoDB', async () => (await remote(a.sub)).length === 2);
  await status(a.page, 'connected');

  assert.deepEqual(violations, []);
  assert.deepEqual(a.page.errors.filter((e) => /Content Security Policy|Refused to/.test(e)), []);
  // Trusted Types held while the workers started: the cloud worker answered (the
  // invoices went) and the service worker controls the page, both under the policy
  assert.ok(await a.page.evaluate(() => navigator.serviceWorker.controller !== null), 'the service worker runs');
  // the watch sees what the policy refuses: markup and script text from a string, a
  // policy of its own, an outside script, a connection elsewhere; nothing of it runs
  const thrown = await a.page.evaluate(async () => {
    const refused = [];
    const attempt = (name, f) => { try { f(); } catch { refused.push(name); } };
    attempt('html', () => document.body.insertAdjacentHTML('beforeend', '<img src="data:," onerror="window.injected = true">'));
    attempt('policy', () => trustedTypes.createPolicy('anything-goes', { createHTML: (h) => h }));
    attempt('worker', () => new Worker('/cloud-worker.js'));
    attempt('script', () => {
      const s = document.createElement('script');
      s.textContent = 'window.injected = true';
      document.body.append(s);
    });
    await fetch('https://tracker.example/pixel').catch(() => {});
    return refused;
  });
  for (const sink of ['html', 'policy', 'worker']) assert.ok(thrown.includes(sink), `a string reached the ${sink} sink: ${thrown}`);
  const directivesSeen = () => [...new Set(violations.map((v) => v.directive))].sort();
  await until('the refusals reported', async () => directivesSeen().length >= 3, 5000);
  assert.deepEqual(directivesSeen(), ['connect-src', 'require-trusted-types-for', 'trusted-types']);
  assert.equal(await a.page.evaluate(() => window.injected), undefined);
  await a.close();
});
