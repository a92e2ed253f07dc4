// Ledgerline benchmark: prints figures, asserts nothing.
//   node tests/bench/bench.mjs <bundle.json with 2,000 invoices>
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { startServer } from '../support/server.mjs';
import { launchBrowser, newPage } from '../support/browser.mjs';
import { dist } from '../e2e/helpers.mjs';
import { seedAnonymous } from './common.mjs';

const bundlePath = process.argv[2];
const RUNS = 5;
const gz = (file) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
const br = (file) => zlib.brotliCompressSync(fs.readFileSync(file), { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const fmt = (ms) => `${ms.toFixed(1)} ms`;
const kb = (b) => `${(b / 1024).toFixed(1)} KB`;

async function marks(page) {
  return page.evaluate(() => {
    const first = (n) => performance.getEntriesByName(n)[0]?.startTime ?? NaN;
    return { start: first('ll-start'), loaded: first('ll-loaded'), list: first('ll-list-rendered') };
  });
}

const server = await startServer({ root: dist });
const browser = await launchBrowser();
try {
  // ---- sizes: what the first load actually fetched ------------------------------------------
  const { context, page } = await newPage(browser, server.url);
  const fetched = new Map();
  page.on('requestfinished', async (r) => {
    const u = new URL(r.url());
    if (u.origin + '/' !== server.url || !r.frame()) return;
    const res = await r.response();
    const sizes = await r.sizes();
    fetched.set(u.pathname, { body: sizes.responseBodySize, encoding: (await res.allHeaders())['content-encoding'] || 'none' });
  });
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="1"]');
  await page.waitForFunction(() => navigator.serviceWorker.controller);
  await new Promise((r) => setTimeout(r, 500));
  const pageFiles = [...fetched.keys()].filter((p) => fs.existsSync(path.join(dist, p === '/' ? 'index.html' : p)));
  console.log('First load (files the page requested): bytes on the wire as served (precompressed by');
  console.log('scripts/precompress.mjs; Chromium accepts brotli from https:// and localhost origins), and');
  console.log('brotli -11 / gzip -9 sizes of the same files:');
  let firstLoad = 0;
  let firstBr = 0;
  let firstGz = 0;
  for (const p of pageFiles.sort()) {
    const file = path.join(dist, p === '/' ? 'index.html' : p);
    const { body, encoding } = fetched.get(p);
    const b = br(file);
    const g = gz(file);
    firstLoad += body;
    firstBr += b;
    firstGz += g;
    console.log(`  ${p.padEnd(46)} ${String(body).padStart(8)} ${encoding.padEnd(5)} br ${String(b).padStart(8)}  gz ${String(g).padStart(8)}`);
  }
  console.log(`  ${'total first load on the wire (this server)'.padEnd(46)} ${String(firstLoad).padStart(8)}  (${kb(firstLoad)})`);
  console.log(`  ${'total first load, brotli'.padEnd(46)} ${String(firstBr).padStart(8)}  (${kb(firstBr)}; target <= 300 KB)`);
  console.log(`  ${'total first load, gzip -9'.padEnd(46)} ${String(firstGz).padStart(8)}  (${kb(firstGz)})`);
  let all = 0;
  const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).forEach((e) => e.isDirectory() ? walk(path.join(d, e.name)) : /\.(br|gz)$/.test(e.name) || (all += br(path.join(d, e.name))));
  walk(dist);
  console.log(`  ${'whole build incl. service worker precache, br'.padEnd(46)} ${String(all).padStart(8)}  (${kb(all)})`);

  // ---- time to first render ----------------------------------------------------------------
  const cold = [];
  for (let i = 0; i < RUNS; i++) {
    const { context: c, page: p } = await newPage(browser, server.url);
    await p.goto(server.url);
    await p.waitForSelector('body[data-ready="1"]');
    cold.push((await marks(p)).list);
    await c.close();
  }
  const warm = [];
  for (let i = 0; i < RUNS; i++) {
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    warm.push((await marks(page)).list);
  }
  console.log('\nTime to first render (navigation start -> invoice list rendered), median of 5:');
  console.log(`  cold (empty cache, network)        ${fmt(median(cold))}`);
  console.log(`  from the service-worker cache      ${fmt(median(warm))}`);

  // ---- 2,000 invoices ----------------------------------------------------------------------
  if (bundlePath) {
    const bundle = JSON.parse(fs.readFileSync(bundlePath, 'utf8'));
    await seedAnonymous(page, bundle);
    const load = [], list = [];
    for (let i = 0; i < RUNS; i++) {
      await page.reload();
      await page.waitForSelector('[data-testid="invoice-row"]');
      const m = await marks(page);
      load.push(m.loaded - m.start);
      list.push(m.list - m.start);
    }
    const shown = await page.locator('[data-testid="invoice-row"]').count();
    console.log(`\nList with ${bundle.invoices.length} invoices (${shown} rows rendered, "Show more" for the rest), median of 5:`);
    console.log(`  read + verify localStorage         ${fmt(median(load))}`);
    console.log(`  read + first list render           ${fmt(median(list))}  (target <= 100 ms)`);

    // filter keystroke on 2,000
    const filt = [];
    for (const q of ['client 07', 'INV-01', '']) {
      const t = await page.evaluate(async (q) => {
        const input = document.querySelector('[data-testid="invoice-search"]');
        const t0 = performance.now();
        input.value = q;
        input.dispatchEvent(new InputEvent('input', { bubbles: true }));
        await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        return performance.now() - t0;
      }, q);
      filt.push(t);
    }
    console.log(`  search keystroke -> list updated   ${fmt(median(filt))}`);

    // save latency with 2,000 invoices present
    const saves = [];
    for (let i = 0; i < 10; i++) {
      await page.goto(server.url + 'invoices/bench-00001');
      await page.waitForSelector('[data-testid="inv-save"]');
      await page.fill('[data-testid="inv-notes"]', `bench save ${i}`);
      await page.click('[data-testid="inv-save"]');
      await page.waitForSelector('[data-testid="invoice-table"]');
      saves.push(await page.evaluate(() => {
        const s = performance.getEntriesByName('ll-save-start').at(-1).startTime;
        const e = performance.getEntriesByName('ll-save-end').at(-1).startTime;
        return e - s;
      }));
    }
    console.log(`  save (validated, written to localStorage), median of 10   ${fmt(median(saves))}  max ${fmt(Math.max(...saves))}  (target <= 16 ms)`);
  }
  await context.close();
} finally {
  await browser.close();
  await server.close();
}
