// Background sync benchmark: prints figures, asserts nothing.
//   node tests/bench/background.mjs <bundle.json with 2,000 invoices> [writes=1000]
// 1. Service worker start -> fetch answer (the worker stopped through CDP, then a fetch of
//    a precached file), median of 15: this build's worker (the sync engine's glue loaded,
//    its wasm not) beside a shell-only worker made from the same build in the same run
//    (sw.js without the engine), so the figure reads as a ratio.
// 2. Network back -> the last of `writes` queued writes in DynamoDB with no Ledgerline
//    page open (dynalite behind the fault proxy; a sync event fired through CDP as
//    Chromium does when the network comes back), beside `writes` sequential PutItems.
// 3. The export of 2,000 invoices (Data -> Back up now: the bundle built in the page,
//    stored by the cloud worker) and its size, beside JSON.stringify of the same bundle.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { startServer } from '../support/server.mjs';
import { launchBrowser, newPage } from '../support/browser.mjs';
import { TABLE } from '../support/standins.mjs';
import { seedAnonymous, sequentialPuts } from './common.mjs';
import { dist, ready, tid, nav, addClient, download, backups } from '../e2e/helpers.mjs';
import { startCloudStack, kit } from '../e2e/cloud-stack.mjs';

const bundlePath = process.argv[2];
const WRITES = Number(process.argv[3] || 1000);
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const fmt = (ms) => `${ms.toFixed(1)} ms`;

/** A copy of the build whose service worker has no sync engine (the shell-only worker). */
function shellOnlyBuild() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ledgerline-shell-only-'));
  fs.cpSync(dist, dir, { recursive: true });
  const sw = path.join(dir, 'sw.js');
  let text = fs.readFileSync(sw, 'utf8');
  text = text.replace("importScripts('/worker.js', '/cloud-sw.js');", "importScripts('/worker.js');");
  text = text.replace('setTimeout(replayIfWaiting, 5000);', '');
  fs.writeFileSync(sw, text);
  for (const ext of ['.br', '.gz']) fs.rmSync(sw + ext, { force: true });
  return dir;
}

async function swStartToFetch(browser, root) {
  const server = await startServer({ root });
  const { context, page } = await newPage(browser, server.url);
  await page.goto(server.url);
  await ready(page);
  await page.waitForFunction(() => navigator.serviceWorker.controller, null, { timeout: 30000 });
  const cdp = await context.newCDPSession(page);
  const times = [];
  for (let i = 0; i < 15; i++) {
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    await new Promise((r) => setTimeout(r, 200));
    times.push(await page.evaluate(async () => {
      const t = performance.now();
      await (await fetch('/manifest.json', { cache: 'no-store' })).text();
      return performance.now() - t;
    }));
  }
  await context.close();
  await server.close();
  return median(times);
}

async function main() {
  const browser = await launchBrowser();
  const shellDir = shellOnlyBuild();
  // alternated, so a busy moment of the machine weighs on both
  const withEngine = [], shellOnly = [];
  for (let i = 0; i < 3; i++) {
    withEngine.push(await swStartToFetch(browser, dist));
    shellOnly.push(await swStartToFetch(browser, shellDir));
  }
  fs.rmSync(shellDir, { recursive: true, force: true });
  const a = median(withEngine), b = median(shellOnly);
  console.log('Service worker start -> fetch answer (stopped through CDP, then a precached file), median:');
  console.log(`  this build (sync engine's glue loaded, its wasm not)  ${fmt(a)}`);
  console.log(`  shell-only worker, same build (baseline)               ${fmt(b)}   ratio ${(a / b).toFixed(2)}`);

  if (bundlePath) {
    const bundle = JSON.parse(fs.readFileSync(bundlePath, 'utf8'));
    const server = await startServer({ root: dist });
    const { context, page } = await newPage(browser, server.url);
    await page.goto(server.url);
    await ready(page);
    await seedAnonymous(page, bundle);
    await page.reload();
    await ready(page);
    await nav(page, 'Data');
    const runs = [];
    for (let i = 0; i < 5; i++) {
      const t = Date.now();
      await tid(page, 'backup-now').click();
      await tid(page, 'backup-note').filter({ hasText: 'Backup taken' }).waitFor({ timeout: 60000 });
      runs.push(Date.now() - t);
      await nav(page, 'Invoices');
      await nav(page, 'Data');
    }
    const kept = (await backups(page)).filter((c) => c.invoices === bundle.invoices.length);
    const bytes = kept.length ? kept[0].bytes : 0;
    const base = await page.evaluate((b) => {
      const t = [];
      for (let i = 0; i < 5; i++) {
        const s = performance.now();
        JSON.stringify(b);
        t.push(performance.now() - s);
      }
      return t.sort((x, y) => x - y)[2];
    }, bundle);
    console.log(`\nExport of ${bundle.invoices.length} invoices (Back up now -> stored in IndexedDB), median of 5:`);
    console.log(`  export, click to stored            ${fmt(median(runs))}   size ${bytes} bytes (${(bytes / 1048576).toFixed(2)} MiB)`);
    console.log(`  JSON.stringify of the same bundle  ${fmt(base)}   ratio ${(median(runs) / base).toFixed(1)}`);
    await context.close();
    await server.close();
  }
  await browser.close();

  // network back -> the last queued write in DynamoDB, no page open
  const stack = await startCloudStack('bench-background');
  const k = kit(() => stack);
  try {
    const a = await k.signedIn('bench-bg@ledgerline.test', { persistent: true, contextOptions: { permissions: ['background-sync'] } });
    await k.status(a.page, 'connected');
    await a.page.waitForFunction(() => navigator.serviceWorker.controller, null, { timeout: 30000 });
    await addClient(a.page, 'Bench Client');
    await k.quickInvoice(a.page, 'Template');
    await k.until('the template in DynamoDB', async () => (await k.remote(a.sub)).length === 1);
    await nav(a.page, 'Data');
    const exported = JSON.parse((await download(a.page, 'export-json')).text);
    await stack.proxy.set({ mode: 'drop' });
    await k.status(a.page, 'local');
    await k.importBundle(a.page, k.bundleOf(exported, WRITES, 'W'), 'bench-bg');
    await k.until(`${WRITES} queued`, async () => (await k.syncStore(a.page, 'queue')).length === WRITES, 120000);
    await a.page.close();
    await stack.proxy.set({ mode: 'pass' });
    await stack.proxy.resetStats();
    const origin = new URL(stack.server.url).origin;
    const blank = await a.context.newPage();
    const cdp = await a.context.newCDPSession(blank);
    const found = new Promise((resolve) => cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const r = registrations.find((r) => r.scopeURL.startsWith(origin) && !r.isDeleted);
      if (r) resolve(r);
    }));
    await cdp.send('ServiceWorker.enable');
    const reg = await found;
    const t0 = Date.now();
    await cdp.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId: reg.registrationId, tag: 'ledgerline-replay', lastChance: false });
    // the queued invoices only (ids w-00000...), counted by DynamoDB
    const count = async () => {
      let n = 0, start;
      do {
        const r = await stack.db.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'userId = :u AND begins_with(invoiceId, :p)', ExpressionAttributeValues: { ':u': { S: a.sub }, ':p': { S: 'w-' } }, Select: 'COUNT', ExclusiveStartKey: start }));
        n += r.Count;
        start = r.LastEvaluatedKey;
      } while (start);
      return n;
    };
    let n = 0;
    while ((n = await count()) < WRITES) {
      if (Date.now() - t0 > 600000) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const ms = Date.now() - t0;
    const s = await stack.proxy.stats();
    await a.close();
    const baseMs = await sequentialPuts(stack.proxy.url, WRITES, exported.invoices[0]);
    console.log(`\nNetwork back -> ${WRITES} queued writes in DynamoDB with no Ledgerline page open (dynalite, sync event through CDP):`);
    console.log(`  service worker replay               ${fmt(ms)}   (${n} of ${WRITES} items; ${Object.entries(s.byTarget).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    console.log(`  ${WRITES} sequential PutItem (baseline) ${fmt(baseMs)}   ratio ${(ms / baseMs).toFixed(2)}`);
  } finally {
    await stack.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
