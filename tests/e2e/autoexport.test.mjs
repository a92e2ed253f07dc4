// Scheduled automatic exports (R7.3), in Chromium with Playwright's clock: the page exports
// by itself when one is due, keeps the newest N, and a restore from one brings back what
// was deleted since. Anonymous (no account): the users with no other copy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { setup, open, tid, nav, addClient, newInvoice, ready, folderPicker, folderFiles } from './helpers.mjs';

let server, browser;
before(async () => ({ server, browser } = await setup()));
after(async () => { await browser?.close(); await server?.close(); });

const invoicesHere = (page) => page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('/invoice/')).length);

/** The automatic exports listed on the Data page, newest first: [{invoices, size}]. */
async function automatic(page) {
  await nav(page, 'Invoices');
  await nav(page, 'Data');
  await tid(page, 'backups').locator('[data-testid="backup-list"], [data-testid="backups-empty"]').first().waitFor();
  return tid(page, 'backup-row').filter({ hasText: 'automatic export' }).evaluateAll((trs) => trs.map((tr) => ({
    invoices: Number(tr.querySelector('td.num').textContent),
    size: tr.querySelector('[data-testid="backup-size"]').textContent,
  })));
}

async function waitForExports(page, n) {
  for (let i = 0; i < 40; i++) {
    const list = await automatic(page);
    if (list.length === n) return list;
    await page.waitForTimeout(250);
  }
  throw new Error(`expected ${n} automatic exports, found ${(await automatic(page)).length}`);
}

test('automatic exports: due a day apart (Playwright clock), the newest N kept, downloadable, and a restore brings back a deleted invoice; off means off', async () => {
  const { context, page } = await open(browser, server.url);
  await page.clock.install({ time: new Date('2026-12-01T09:00:00Z') });
  await page.reload();
  await ready(page);

  // Settings → Backups: every day, keep 2 (a bad number is refused with a reason)
  await nav(page, 'Settings');
  assert.match(await tid(page, 'auto-export-last').textContent(), /No automatic export yet/);
  await tid(page, 'auto-export-kept').fill('lots');
  await tid(page, 'backup-settings-save').click();
  assert.match(await tid(page, 'backup-settings-message').textContent(), /'lots' is not a number of exports to keep/);
  await tid(page, 'auto-export-kept').fill('2');
  await tid(page, 'backup-settings-save').click();
  assert.match(await tid(page, 'backup-settings-message').textContent(), /exports your data every day and keeps the newest 2/);

  // nothing to export in an empty browser; then some data, and the next look exports it
  // (fastForward, not runFor: the page's calls to its worker time out on the page's
  // clock, while the worker answers in real time)
  await page.clock.fastForward('10:00');
  await page.waitForTimeout(500);
  assert.equal((await automatic(page)).length, 0, 'an empty browser is not exported');
  await addClient(page, 'Export Client');
  await newInvoice(page, { client: 'Export Client', lines: [{ desc: 'First', qty: '1', price: '10' }] });
  await newInvoice(page, { client: 'Export Client', lines: [{ desc: 'Second', qty: '1', price: '20' }] });
  await page.clock.fastForward('10:00');
  const first = await waitForExports(page, 1);
  assert.equal(first[0].invoices, 2);
  assert.match(first[0].size, /^\d+ KB$/);
  // not due again within the day
  await page.clock.fastForward('02:00:00');
  await page.waitForTimeout(500);
  assert.equal((await automatic(page)).length, 1);

  // a day later: the second
  await page.clock.fastForward('24:00:00');
  await waitForExports(page, 2);

  // an invoice deleted, a day later the third: the oldest goes (2 kept)
  await nav(page, 'Invoices');
  const row = tid(page, 'invoice-row').filter({ hasText: 'INV-0002' });
  await row.getByTestId('invoice-delete').click();
  await row.getByTestId('invoice-delete-confirm').click();
  await row.waitFor({ state: 'detached' });
  assert.equal(await invoicesHere(page), 1);
  await page.clock.fastForward('24:00:00');
  await nav(page, 'Settings');
  await nav(page, 'Data');
  let list;
  for (let i = 0; i < 40; i++) {
    list = await automatic(page);
    if (list[0]?.invoices === 1) break;
    await page.waitForTimeout(250);
  }
  assert.deepEqual(list.map((e) => e.invoices), [1, 2], 'newest first: after the delete, before it; the first one pruned');

  // downloadable: a whole, re-importable bundle
  const older = tid(page, 'backup-row').filter({ hasText: 'automatic export' }).nth(1);
  const [dl] = await Promise.all([page.waitForEvent('download'), older.getByTestId('backup-download').click()]);
  assert.match(dl.suggestedFilename(), /^ledgerline-export-\d{4}-\d{2}-\d{2}\.json$/);
  const bundle = JSON.parse(fs.readFileSync(await dl.path(), 'utf8'));
  assert.equal(bundle.format, 'ledgerline-export');
  assert.equal(bundle.invoices.length, 2);
  assert.equal(bundle.clients.length, 1);

  // a restore from the older export brings the deleted invoice back
  await older.getByTestId('backup-restore').click();
  await tid(page, 'backup-note').filter({ hasText: 'Restored' }).waitFor();
  assert.equal(await invoicesHere(page), 2);

  // off: no more exports, however long
  await nav(page, 'Settings');
  assert.match(await tid(page, 'auto-export-last').textContent(), /Last automatic export: /);
  await tid(page, 'auto-export-every').selectOption('off');
  await tid(page, 'backup-settings-save').click();
  assert.match(await tid(page, 'backup-settings-message').textContent(), /automatic exports are off/);
  const before = (await automatic(page)).length;
  await page.clock.fastForward(72 * 3600 * 1000);
  await page.clock.fastForward('10:00');
  await page.waitForTimeout(500);
  assert.equal((await automatic(page)).length, before);
  await context.close();
});

async function waitForFiles(page, n) {
  let files;
  for (let i = 0; i < 40; i++) {
    files = await folderFiles(page);
    if (files.length === n) return files;
    await page.waitForTimeout(250);
  }
  throw new Error(`expected ${n} files in the export folder, found ${JSON.stringify(files)}`);
}

test('export folder (File System Access): chosen once, each automatic export written there; a permission lost at a restart is asked again and nothing is missed; stop means stop', async () => {
  const { context, page } = await open(browser, server.url);
  await context.addInitScript(folderPicker);
  await page.clock.install({ time: new Date('2026-12-01T09:00:00Z') });
  await page.reload();
  await ready(page);
  await addClient(page, 'Folder Client');
  await newInvoice(page, { client: 'Folder Client', lines: [{ desc: 'One', qty: '1', price: '10' }] });
  await page.clock.fastForward('10:00');
  await waitForExports(page, 1);

  // chosen once: the newest export is written at once
  await nav(page, 'Settings');
  await tid(page, 'folder-status').and(page.locator('[data-state="none"]')).waitFor();
  await tid(page, 'folder-choose').click();
  await tid(page, 'folder-message').filter({ hasText: 'now also written to “exports” (1 written now)' }).waitFor();
  await tid(page, 'folder-status').and(page.locator('[data-state="granted"]')).waitFor();
  assert.deepEqual(JSON.parse(await page.evaluate(() => sessionStorage.getItem('picker-options'))),
    { id: 'ledgerline-exports', mode: 'readwrite', startIn: 'documents' });
  let files = await folderFiles(page);
  assert.equal(files.length, 1);
  // named by when the export was stored (the worker's time: Playwright's clock is the page's)
  assert.match(files[0].name, /^ledgerline-export-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z\.json$/);
  assert.deepEqual({ ...files[0], name: undefined }, { name: undefined, format: 'ledgerline-export', invoices: 1, clients: 1 });
  assert.match(await tid(page, 'folder-last').textContent(), new RegExp(`Last written: ${files[0].name}`));

  // a day later, with one more invoice: the next export goes there by itself
  await newInvoice(page, { client: 'Folder Client', lines: [{ desc: 'Two', qty: '1', price: '20' }] });
  await page.clock.fastForward('24:00:00');
  files = await waitForFiles(page, 2);
  assert.ok(files[1].name > files[0].name);
  assert.equal(files[1].invoices, 2);

  // the browser restarted and forgot the permission: the export is kept in the browser,
  // the user is told once, and allowing it again writes what was missed
  await newInvoice(page, { client: 'Folder Client', lines: [{ desc: 'Three', qty: '1', price: '30' }] });
  await page.evaluate(() => sessionStorage.setItem('folder-perm', 'prompt'));
  await page.reload();
  await ready(page);
  await page.clock.fastForward('24:00:00');
  await waitForExports(page, 3);
  await tid(page, 'toast').filter({ hasText: 'was not written to your folder “exports”' }).waitFor();
  assert.equal((await folderFiles(page)).length, 2, 'nothing written without permission');
  await nav(page, 'Settings');
  await tid(page, 'folder-status').and(page.locator('[data-state="prompt"]')).waitFor();
  await tid(page, 'folder-allow').click();
  await tid(page, 'folder-message').filter({ hasText: '(1 written now)' }).waitFor();
  await tid(page, 'folder-status').and(page.locator('[data-state="granted"]')).waitFor();
  files = await folderFiles(page);
  assert.equal(files.length, 3);
  assert.equal(files[2].invoices, 3);

  // stop: no more files, however many exports follow
  await tid(page, 'folder-stop').click();
  await tid(page, 'folder-message').filter({ hasText: 'no longer written to a folder' }).waitFor();
  await tid(page, 'folder-status').and(page.locator('[data-state="none"]')).waitFor();
  await page.clock.fastForward('24:00:00');
  await waitForExports(page, 4);
  await page.waitForTimeout(500);
  assert.equal((await folderFiles(page)).length, 3);
  await context.close();
});

test('export folder: a browser without File System Access says so and keeps exports in the browser', async () => {
  const { context, page } = await open(browser, server.url);
  await context.addInitScript(() => { delete window.showDirectoryPicker; delete Window.prototype.showDirectoryPicker; });
  await page.reload();
  await ready(page);
  await nav(page, 'Settings');
  await tid(page, 'folder-status').and(page.locator('[data-state="unsupported"]')).waitFor();
  assert.match(await tid(page, 'folder-status').textContent(), /cannot write to a folder you choose/);
  assert.equal(await tid(page, 'folder-choose').count(), 0);
  await context.close();
});
