import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setup, open, tid, nav, addClient, newInvoice, rows, dumpStorage, ready, download, artifacts, backups } from './helpers.mjs';

let server, browser;
before(async () => ({ server, browser } = await setup()));
after(async () => { await browser?.close(); await server?.close(); });

const parsed = (dump) => Object.fromEntries(Object.entries(dump).map(([k, v]) => [k, JSON.parse(v)]));

async function seed(page) {
  await nav(page, 'Settings');
  await tid(page, 'profile-name').fill('Ledger & Co');
  await tid(page, 'profile-address').fill('1 Main St\nSpringfield');
  await tid(page, 'profile-save').click();
  await tid(page, 'profile-message').filter({ hasText: 'Settings saved' }).waitFor();
  await addClient(page, 'Acme, Inc.', { email: 'ap@acme.test' });
  await newInvoice(page, { client: 'Acme, Inc.', lines: [{ desc: 'Work', qty: '3', price: '19.99', taxes: '10, 5' }] });
  await newInvoice(page, { client: 'Acme, Inc.', currency: 'JPY', lines: [{ desc: 'Yen work', qty: '2', price: '1500', taxes: '8' }] });
}

/** Overwrites INV-0002's stored record with broken JSON and reloads; returns its key. */
async function corruptSecond(page) {
  const key = await page.evaluate(() => {
    const k = Object.keys(localStorage).find((k) => k.includes('/invoice/') && localStorage.getItem(k).includes('"INV-0002"'));
    localStorage.setItem(k, '{"id": "broken", "number": "INV-0002", ');
    return k;
  });
  await page.reload();
  await ready(page);
  return key;
}

test('export JSON, clear storage, import: identical data; CSV has header and rows', async () => {
  const { context, page } = await open(browser, server.url);
  await seed(page);
  const before = parsed(await dumpStorage(page));
  assert.equal(Object.keys(before).filter((k) => k.includes('/invoice/')).length, 2);

  await nav(page, 'Data');
  const json = await download(page, 'export-json');
  assert.match(json.name, /^ledgerline-export-\d{4}-\d{2}-\d{2}\.json$/);
  const bundle = JSON.parse(json.text);
  assert.equal(bundle.format, 'ledgerline-export');
  assert.equal(bundle.schemaVersion, 1);
  assert.equal(bundle.invoices.length, 2);

  const csv = await download(page, 'export-csv');
  const lines = csv.text.split('\r\n');
  assert.equal(lines[0], 'number,client,issue_date,due_date,status,currency,subtotal,discount,tax,shipping,total');
  assert.match(lines[1], /^INV-0001,"Acme, Inc\.",\d{4}-\d{2}-\d{2},\d{4}-\d{2}-\d{2},draft,USD,59\.97,0\.00,9\.00,0\.00,68\.97$/);
  assert.match(lines[2], /^INV-0002,"Acme, Inc\.",.*,draft,JPY,3000,0,240,0,3240$/);
  assert.equal(lines[3], '');

  await tid(page, 'clear-all').click();
  await tid(page, 'clear-confirm').click();
  assert.deepEqual(await dumpStorage(page), {});
  await nav(page, 'Invoices');
  await tid(page, 'invoices-empty').waitFor();

  await nav(page, 'Data');
  await tid(page, 'import-file').setInputFiles(json.file);
  assert.match(await tid(page, 'import-result').textContent(), /Imported 2 invoices and 1 clients/);
  assert.deepEqual(parsed(await dumpStorage(page)), before);
  await page.reload();
  await ready(page);
  await nav(page, 'Invoices');
  assert.deepEqual((await rows(page)).map((r) => r.total).sort(), ['JPY 3,240', 'USD 68.97']);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('import rejects a damaged file record by record and imports nothing', async () => {
  const { context, page } = await open(browser, server.url);
  await seed(page);
  await nav(page, 'Data');
  const json = await download(page, 'export-json');
  const bundle = JSON.parse(json.text);
  bundle.invoices[0].notes = 'edited by hand';          // breaks its checksum
  bundle.invoices[1].quantity = 'lots';                 // unknown field: ignored
  bundle.invoices[1].lines[0].quantity = 'lots';        // not a number
  bundle.clients.push({ id: 'x' });                     // no name
  const bad = path.join(artifacts, 'bad-export.json');
  fs.writeFileSync(bad, JSON.stringify(bundle));
  await tid(page, 'clear-all').click();
  await tid(page, 'clear-confirm').click();

  await tid(page, 'import-file').setInputFiles(bad);
  const result = await tid(page, 'import-result').textContent();
  assert.match(result, /Nothing was imported: 3 problems found/);
  const errs = await tid(page, 'import-error').allTextContents();
  assert.match(errs[0], /^clients\[1\]/);
  assert.match(errs[1], /^invoices\[0\] \(INV-0001\): checksum mismatch/);
  assert.match(errs[2], /^invoices\[1\] \(INV-0002\): not a valid invoice/);
  assert.deepEqual(await dumpStorage(page), {});

  const notJson = path.join(artifacts, 'not-json.json');
  fs.writeFileSync(notJson, 'hello');
  await tid(page, 'import-file').setInputFiles(notJson);
  // the previous report stays until this one is read: wait for the new one
  await tid(page, 'import-error').filter({ hasText: 'not valid JSON' }).waitFor();
  assert.equal(await tid(page, 'import-error').count(), 1);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a corrupted localStorage entry: the app starts, names it, shows the others, and can export or remove it', async () => {
  const { context, page } = await open(browser, server.url);
  await seed(page);
  const key = await corruptSecond(page);
  const banner = tid(page, 'damaged-banner');
  await banner.waitFor();
  assert.match(await banner.textContent(), /1 stored entry could not be read/);
  assert.equal(await tid(page, 'damaged-entry').getAttribute('data-key'), key);
  assert.deepEqual((await rows(page)).map((r) => r.number), ['INV-0001']);

  const raw = await download(page, 'damaged-export');
  assert.equal(raw.text, '{"id": "broken", "number": "INV-0002", ');
  await tid(page, 'damaged-remove').click();
  assert.equal(await banner.count(), 0);
  await page.reload();
  await ready(page);
  assert.equal(await tid(page, 'damaged-banner').count(), 0);
  assert.equal(await page.evaluate((k) => localStorage.getItem(k), key), null);

  // a checksum mismatch (edited outside the app) is caught too
  await page.evaluate(() => {
    const k = Object.keys(localStorage).find((k) => k.includes('/invoice/'));
    const rec = JSON.parse(localStorage.getItem(k));
    rec.shipping = 99999;
    localStorage.setItem(k, JSON.stringify(rec));
  });
  await page.reload();
  await ready(page);
  assert.match(await tid(page, 'damaged-entry').textContent(), /checksum mismatch: invoice INV-0001/);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a corrupted localStorage entry comes back from the latest copy kept in IndexedDB with every save; the damaged state never replaces that copy', async () => {
  const { context, page } = await open(browser, server.url);
  await seed(page);
  for (let i = 0; ; i++) {
    const latest = (await backups(page)).find((b) => b.reason === 'latest copy');
    if (latest?.invoices === 2) break;
    if (i > 150) throw new Error('no latest copy with both invoices');
    await new Promise((r) => setTimeout(r, 100));
  }
  const key = await corruptSecond(page);
  await tid(page, 'damaged-banner').waitFor();
  assert.deepEqual((await rows(page)).map((r) => r.number), ['INV-0001']);
  // longer than the copy's delay: the damaged state is not copied over the good one
  await new Promise((r) => setTimeout(r, 3000));
  await tid(page, 'damaged-restore-latest').click();
  await tid(page, 'toast').filter({ hasText: 'Restored' }).waitFor();
  await tid(page, 'damaged-banner').waitFor({ state: 'detached' });
  assert.deepEqual((await rows(page)).map((r) => r.number).sort(), ['INV-0001', 'INV-0002']);
  const back = await page.evaluate((k) => JSON.parse(localStorage.getItem(k)), key);
  assert.equal(back.number, 'INV-0002');
  assert.equal(back.currency, 'JPY', 'its content, from the copy');
  await page.reload();
  await ready(page);
  assert.equal(await tid(page, 'damaged-banner').count(), 0);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('localStorage full: saving shows the quota warning, keeps the edit, and loses nothing', async () => {
  const { context, page } = await open(browser, server.url);
  await seed(page);
  const beforeDump = await dumpStorage(page);
  await page.getByRole('link', { name: 'INV-0001' }).click();
  await tid(page, 'inv-notes').fill('A long note that must not be lost. '.repeat(20));
  // fill the origin's storage to the brim with another app's data
  const filled = await page.evaluate(() => {
    let size = 1 << 20, i = 0, total = 0;
    while (size >= 16) {
      try { localStorage.setItem('other-app-' + i++, 'x'.repeat(size)); total += size; } catch { size = Math.floor(size / 2); }
    }
    return total;
  });
  assert.ok(filled > 1_000_000, `filled ${filled} bytes`);
  await tid(page, 'inv-save').click();
  const warning = tid(page, 'quota-warning');
  await warning.waitFor();
  const text = await warning.textContent();
  assert.match(text, /Storage full/);
  assert.match(text, /NOT saved/);
  assert.match(text, /export a backup/i);
  assert.match(text, /paid invoices/);
  assert.match(text, /logo/);
  // the edit is still in the editor and the stored invoice is unchanged
  assert.match(await tid(page, 'inv-notes').inputValue(), /^A long note that must not be lost/);
  assert.deepEqual(await dumpStorage(page), beforeDump);
  // storage is full (and this user has no DynamoDB): the emergency export downloads what
  // is in memory, the unsaved edit included
  const emergency = JSON.parse((await download(page, 'emergency-export')).text);
  assert.equal(emergency.format, 'ledgerline-export');
  const unsaved = emergency.invoices.find((i) => i.number === 'INV-0001');
  assert.match(unsaved.notes, /^A long note that must not be lost/);
  assert.equal(unsaved.version, 2);
  assert.equal(emergency.invoices.length, Object.keys(beforeDump).filter((k) => k.includes('/invoice/')).length);

  // free space, save again: it lands
  await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('other-app-')).forEach((k) => localStorage.removeItem(k)));
  await tid(page, 'inv-save').click();
  await tid(page, 'invoice-table').waitFor();
  const rec = Object.values(await dumpStorage(page)).map((v) => JSON.parse(v)).find((v) => v.number === 'INV-0001');
  assert.equal(rec.version, 2);
  assert.match(rec.notes, /^A long note that must not be lost/);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('logo: too large is refused with a clear message; a small one is stored and printed', async () => {
  const { context, page } = await open(browser, server.url);
  await nav(page, 'Settings');
  const big = path.join(artifacts, 'big-logo.png');
  fs.writeFileSync(big, Buffer.alloc(400 * 1024, 1));
  await tid(page, 'profile-logo').setInputFiles(big);
  assert.match(await tid(page, 'profile-message').textContent(), /is 400 KB; the limit is 150 KB/);
  const small = path.join(root(), 'static/icons/icon-192.png');
  await tid(page, 'profile-logo').setInputFiles(small);
  await tid(page, 'profile-message').filter({ hasText: 'Logo loaded' }).waitFor();
  await tid(page, 'profile-save').click();
  await tid(page, 'profile-message').filter({ hasText: 'Settings saved' }).waitFor();
  const profile = await page.evaluate(() => JSON.parse(localStorage.getItem('ledgerline/v1/anonymous/profile')));
  assert.match(profile.logo, /^data:image\/png;base64,/);
  await addClient(page, 'Logo Client');
  await newInvoice(page, { client: 'Logo Client', lines: [{ desc: 'x', qty: '1', price: '1' }] });
  await tid(page, 'invoice-row').first().getByRole('link', { name: 'Print' }).click();
  assert.equal(await tid(page, 'print-view').locator('img.logo').getAttribute('src'), profile.logo);
  assert.deepEqual(page.errors, []);
  await context.close();
});

function root() {
  return path.resolve(artifacts, '..');
}
