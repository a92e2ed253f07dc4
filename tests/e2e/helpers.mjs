// Shared steps for the end-to-end tests: a real static server over dist/, Debian Chromium.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../support/server.mjs';
import { launchBrowser, newPage } from '../support/browser.mjs';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const dist = path.join(root, 'dist');
export const artifacts = path.join(root, 'test-results');
fs.mkdirSync(artifacts, { recursive: true });

export async function setup() {
  if (!fs.existsSync(path.join(dist, 'index.html'))) {
    throw new Error('dist/ is missing: run `trunk build --release` first (scripts/test.sh does)');
  }
  const server = await startServer({ root: dist });
  const browser = await launchBrowser();
  return { server, browser };
}

export async function open(browser, url) {
  const { context, page } = await newPage(browser, url);
  await page.goto(url);
  await ready(page);
  return { context, page };
}

export async function ready(page) {
  await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
}

export const tid = (page, id) => page.locator(`[data-testid="${id}"]`);

export async function nav(page, name) {
  await tid(page, 'nav').getByRole('link', { name, exact: true }).click();
}

export async function addClient(page, name, { email = '', address = '' } = {}) {
  await nav(page, 'Clients');
  await tid(page, 'client-new').click();
  await tid(page, 'client-name').fill(name);
  if (email) await tid(page, 'client-email').fill(email);
  if (address) await tid(page, 'client-address').fill(address);
  await tid(page, 'client-save').click();
  await tid(page, 'client-row').filter({ hasText: name }).waitFor();
}

/** Fills the editor. lines: [{desc, qty, price, taxes, discount}] */
export async function fillInvoice(page, { client, issue, due, currency, status, lines = [], shipping, discountKind, discountValue }) {
  if (client) await tid(page, 'inv-client').selectOption({ label: client });
  if (issue) await tid(page, 'inv-issue-date').fill(issue);
  if (due) await tid(page, 'inv-due-date').fill(due);
  if (currency) await tid(page, 'inv-currency').fill(currency);
  if (status) await tid(page, 'inv-status').selectOption(status);
  for (let i = 0; i < lines.length; i++) {
    if ((await tid(page, 'line').count()) <= i) await tid(page, 'line-add').click();
    const row = tid(page, 'line').nth(i);
    const l = lines[i];
    if (l.desc !== undefined) await row.locator('input.line-desc').fill(l.desc);
    if (l.qty !== undefined) await row.locator('input.line-qty').fill(l.qty);
    if (l.price !== undefined) await row.locator('input.line-price').fill(l.price);
    if (l.taxes !== undefined) await row.locator('input.line-taxes').fill(l.taxes);
    if (l.discount !== undefined) await row.locator('input.line-discount').fill(l.discount);
  }
  if (discountKind) await tid(page, 'inv-discount-kind').selectOption(discountKind);
  if (discountValue !== undefined) await tid(page, 'inv-discount-value').fill(discountValue);
  if (shipping !== undefined) await tid(page, 'inv-shipping').fill(shipping);
}

export async function newInvoice(page, fields) {
  await nav(page, 'Invoices');
  await page.getByRole('link', { name: 'New invoice' }).click();
  await fillInvoice(page, fields);
  await tid(page, 'inv-save').click();
  await tid(page, 'invoice-table').waitFor();
}

/** Every localStorage entry of the app, as an object. */
export async function dumpStorage(page) {
  return page.evaluate(() => {
    const out = {};
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k.startsWith('ledgerline/')) out[k] = localStorage.getItem(k);
    }
    return out;
  });
}

export async function download(page, testid) {
  const [dl] = await Promise.all([page.waitForEvent('download'), tid(page, testid).click()]);
  const file = path.join(artifacts, dl.suggestedFilename());
  await dl.saveAs(file);
  return { name: dl.suggestedFilename(), file, text: fs.readFileSync(file, 'utf8') };
}

export async function rows(page) {
  return tid(page, 'invoice-row').evaluateAll((trs) =>
    trs.map((tr) => ({
      number: tr.querySelector('.inv-number').textContent.trim(),
      client: tr.querySelector('.inv-client').textContent.trim(),
      status: tr.querySelector('.inv-status').textContent.trim(),
      total: tr.querySelector('.inv-total').textContent.trim(),
    })),
  );
}

/** The copies kept in IndexedDB `ledgerline-backups`: {at, reason, invoices, bytes}. */
export const backups = (page) => page.evaluate(() => new Promise((resolve, reject) => {
  const open = indexedDB.open('ledgerline-backups');
  open.onupgradeneeded = () => open.transaction.abort(); // not made yet: never make it here
  open.onerror = () => (open.error?.name === 'AbortError' ? resolve([]) : reject(open.error));
  open.onsuccess = (e) => {
    const db = e.target.result;
    if (!db.objectStoreNames.contains('backups')) return resolve([]);
    db.transaction('backups').objectStore('backups').getAll().onsuccess = (g) => resolve(g.target.result.map((v) => {
      const s = JSON.parse(v);
      return { at: s.at, reason: s.reason, invoices: s.invoices, bytes: s.bundle.length, bundle: s.bundle };
    }));
  };
}));

// Chromium's File System Access, where headless Chromium cannot show its folder picker:
// the picker is replaced with a folder of the origin private file system (a real
// directory handle, written through the same API), and the permission the browser
// forgets at a restart is played by sessionStorage.
export const folderPicker = () => {
  const perm = () => sessionStorage.getItem('folder-perm') || 'granted';
  window.showDirectoryPicker = async (options) => {
    sessionStorage.setItem('picker-options', JSON.stringify(options));
    const root = await navigator.storage.getDirectory();
    return root.getDirectoryHandle('exports', { create: true });
  };
  FileSystemHandle.prototype.queryPermission = async function () { return perm(); };
  FileSystemHandle.prototype.requestPermission = async function () {
    sessionStorage.setItem('folder-perm', 'granted');
    return 'granted';
  };
};

/** The files in the chosen folder, oldest first: [{name, invoices}]. */
export const folderFiles = (page) => page.evaluate(async () => {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('exports', { create: true });
  const out = [];
  for await (const [name, h] of dir.entries()) {
    const bundle = JSON.parse(await (await h.getFile()).text());
    out.push({ name, format: bundle.format, invoices: bundle.invoices.length, clients: bundle.clients.length });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
});
