import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../support/server.mjs';
import { launchBrowser, newPage, launchPersistent, appErrors } from '../support/browser.mjs';
import { dist, artifacts, ready, tid, nav, addClient, newInvoice, rows } from './helpers.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function controlled(page) {
  await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller, null, { timeout: 30000 });
}

test('server process stopped: a reload still serves the app and its data, deep links too', async () => {
  const server = await startServer({ root: dist });
  const { context, page } = await newPage(browser, server.url);
  await page.goto(server.url);
  await ready(page);
  await controlled(page);
  await addClient(page, 'Offline Client');
  await newInvoice(page, { client: 'Offline Client', lines: [{ desc: 'Work', qty: '1', price: '42' }] });
  const port = server.port;
  await server.close();
  // the server is gone: nothing answers on the port
  await assert.rejects(fetch(`http://127.0.0.1:${port}/`));

  await page.reload();
  await ready(page);
  assert.deepEqual((await rows(page)).map((r) => r.number), ['INV-0001']);
  await page.goto(`http://127.0.0.1:${port}/clients`);
  await ready(page);
  await tid(page, 'client-row').filter({ hasText: 'Offline Client' }).waitFor();
  // and work goes on offline: a new invoice saves
  await newInvoice(page, { client: 'Offline Client', lines: [{ desc: 'More', qty: '1', price: '1' }] });
  assert.equal((await rows(page)).length, 2);
  assert.deepEqual(appErrors(page), []);
  await context.close();
});

test('installable: CDP reports no installability errors', async () => {
  const server = await startServer({ root: dist });
  // a persistent profile: Chromium answers "in-incognito" for throwaway contexts
  const { context, page, close } = await launchPersistent(server.url);
  await page.goto(server.url);
  await ready(page);
  await controlled(page);
  const cdp = await context.newCDPSession(page);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(installabilityErrors, []);
  const manifest = await (await fetch(server.url + 'manifest.json')).json();
  assert.equal(manifest.display, 'standalone');
  assert.ok(manifest.icons.some((i) => i.purpose === 'maskable'));
  await close();
  await server.close();
});

test('print view: no navigation or toolbar in print; A4 and Letter PDFs', async () => {
  const server = await startServer({ root: dist });
  const { context, page } = await newPage(browser, server.url);
  await page.goto(server.url);
  await ready(page);
  await addClient(page, 'Print Client', { address: '5 Paper Rd\nInkville' });
  await newInvoice(page, { client: 'Print Client', lines: [{ desc: 'Printing', qty: '2', price: '10', taxes: '20' }] });
  await tid(page, 'invoice-row').first().getByRole('link', { name: 'Print' }).click();
  await tid(page, 'print-view').waitFor();
  assert.equal(await tid(page, 'nav').count(), 0);
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('.print-toolbar').isVisible(), false);
  assert.equal(await tid(page, 'print-view').isVisible(), true);
  await page.screenshot({ path: path.join(artifacts, 'print-view.png'), fullPage: true });
  const text = await tid(page, 'print-view').textContent();
  assert.match(text, /INVOICE/);
  assert.match(text, /Print Client/);
  assert.match(text, /USD 24\.00/);
  for (const format of ['A4', 'Letter']) {
    const pdf = await page.pdf({ format, path: path.join(artifacts, `invoice-${format}.pdf`) });
    assert.equal(pdf.subarray(0, 4).toString(), '%PDF');
  }
  assert.deepEqual(page.errors, []);
  await context.close();
  await server.close();
});

test('a new build installs a new worker and the app offers "new version — reload"', async () => {
  const first = await startServer({ root: dist });
  const port = first.port;
  const { context, page } = await newPage(browser, first.url);
  await page.goto(first.url);
  await ready(page);
  await controlled(page);
  const oldCaches = await page.evaluate(() => caches.keys());
  assert.equal(oldCaches.length, 1);

  // "deploy" a new build: same files, a different build id in sw.js
  await first.close();
  const next = fs.mkdtempSync(path.join(os.tmpdir(), 'ledgerline-next-'));
  fs.cpSync(dist, next, { recursive: true });
  const swPath = path.join(next, 'sw.js');
  const sw = fs.readFileSync(swPath, 'utf8').replace(/const BUILD = '([0-9a-f]+)'/, "const BUILD = 'feedfacefeedface'");
  assert.match(sw, /feedfacefeedface/);
  fs.writeFileSync(swPath, sw);
  const second = await startServer({ root: next, port });

  await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r.update()));
  await tid(page, 'update-banner').waitFor({ timeout: 30000 });
  await Promise.all([page.waitForEvent('load'), tid(page, 'update-reload').click()]);
  await ready(page);
  await page.waitForFunction(async () => (await caches.keys()).join() === 'ledgerline-shell-feedfacefeedface', null, { timeout: 30000 });
  assert.deepEqual(page.errors, []);
  await context.close();
  await second.close();
  fs.rmSync(next, { recursive: true, force: true });
});
