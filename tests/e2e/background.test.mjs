// Background sync (issue 10): the service worker sends the queue with every Ledgerline
// page closed, on a `sync` event (CDP ServiceWorker.dispatchSyncEvent, fired from an
// about:blank page, as Chromium does once the network is back) and on a `periodicsync`
// event; credentials expired at that moment lose nothing and send nothing; without the
// Sync API the page still delivers everything; a tab's worker and the service worker
// racing for one queue write each change once. Persistent profiles (Background Sync is
// off in incognito), dynalite behind the signature-checking fault proxy, and DynamoDB
// counted with an independent client before and after.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { ready, tid, nav, addClient, download, backups, folderPicker, folderFiles } from './helpers.mjs';
import { startCloudStack, kit, BLOCK } from './cloud-stack.mjs';

let stack;
before(async () => {
  stack = await startCloudStack('background');
});
after(async () => {
  await stack?.stop();
});
beforeEach(async () => {
  await stack?.reset();
});
const { signedIn, status, remote, until, quickInvoice, editNotes, putRemote, syncStore, bundleOf, importBundle } = kit(() => stack);

const origin = () => new URL(stack.server.url).origin;

/** Fires a service worker event of Ledgerline's registration through CDP, from an
 * about:blank page of the same profile (no Ledgerline page needs to be open). */
async function fire(context, method, tag) {
  const blank = await context.newPage();
  const cdp = await context.newCDPSession(blank);
  const found = new Promise((resolve) => cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
    const r = registrations.find((r) => r.scopeURL.startsWith(origin()) && !r.isDeleted);
    if (r) resolve(r);
  }));
  await cdp.send('ServiceWorker.enable');
  const reg = await found;
  await cdp.send(method, { origin: origin(), registrationId: reg.registrationId, tag, ...(method.endsWith('dispatchSyncEvent') ? { lastChance: false } : {}) });
  return blank;
}

const ledgerlinePages = (context) => context.pages().filter((p) => p.url().startsWith(origin()));

/** Signed in on a persistent profile, the service worker in control, a client and one
 * invoice (`first`) in DynamoDB: {context, page, sub, close}. */
async function synced(email, first = 'Synced first', options = {}) {
  const a = await signedIn(email, { persistent: true, ...options });
  await status(a.page, 'connected');
  await a.page.waitForFunction(() => navigator.serviceWorker.controller, null, { timeout: 30000 });
  await addClient(a.page, 'Background Client');
  await quickInvoice(a.page, first);
  await until('the first invoice in DynamoDB', async () => (await remote(a.sub)).length === 1);
  return a;
}

/** An export bundle of page's data (Data -> Export JSON), parsed. */
async function exportOf(page) {
  await nav(page, 'Data');
  return JSON.parse((await download(page, 'export-json')).text);
}

/** [`synced`], then `n` more invoices saved while DynamoDB is unreachable (an import):
 * returns what the test needs. */
async function queued(email, n, options = {}) {
  const a = await synced(email, 'Synced first', options);
  const exported = await exportOf(a.page);
  await stack.proxy.set({ mode: 'drop' });
  await status(a.page, 'local');
  const bundle = bundleOf(exported, n, 'BG');
  await importBundle(a.page, bundle, email);
  await until(`${n} changes queued`, async () => (await syncStore(a.page, 'queue')).length === n);
  return { ...a, bundle };
}

/** Every invoice of the bundle is in DynamoDB once, at version 1, with its content. */
function assertAllThere(items, bundle) {
  const byId = new Map(items.map((i) => [i.id, i]));
  for (const inv of bundle.invoices.slice(1)) {
    const r = byId.get(inv.id);
    assert.ok(r, `${inv.number} in DynamoDB`);
    assert.equal(r.version, 1, `${inv.number} written once`);
    assert.equal(r.content.notes, inv.notes);
    assert.equal(r.checksum, inv.checksum);
  }
}

test('100 changes saved while DynamoDB was down reach it from the service worker with every Ledgerline page closed; the app opened later has nothing left to send', async () => {
  const a = await queued('bgsync@ledgerline.test', 100, { contextOptions: { permissions: ['background-sync'] } });
  assert.equal(await a.page.evaluate(() => 'SyncManager' in self), true);
  assert.equal((await remote(a.sub)).length, 1, 'before: one invoice in DynamoDB');
  await a.page.close();
  assert.equal(ledgerlinePages(a.context).length, 0, 'no Ledgerline page open');

  await stack.proxy.set({ mode: 'pass' });
  const blank = await fire(a.context, 'ServiceWorker.dispatchSyncEvent', 'ledgerline-replay');
  const items = await until('all 101 invoices in DynamoDB', async () => {
    const r = await remote(a.sub);
    return r.length === 101 && r;
  }, 90000);
  assert.equal(ledgerlinePages(a.context).length, 0, 'sent with no Ledgerline page open');
  assertAllThere(items, a.bundle);

  // the app, opened again: nothing waits, no conflict, the same 101 invoices
  const page = await a.context.newPage();
  await page.goto(stack.server.url);
  await ready(page);
  await status(page, 'connected');
  assert.equal((await syncStore(page, 'queue')).length, 0, 'the queue is empty');
  assert.equal((await syncStore(page, 'conflicts')).length, 0, 'no conflict');
  await nav(page, 'Data');
  await tid(page, 'log-show').click();
  await tid(page, 'log-row').filter({ hasText: 'background.replay' }).filter({ hasText: '100 sent' }).first().waitFor();
  assert.equal((await remote(a.sub)).length, 101, 'after: 101 invoices in DynamoDB');
  await blank.close();
  await a.close();
});

test('a sync event that runs out of time asks for another and gives up; the replay goes on, and everything arrives once with no page open', async () => {
  const a = await queued('bglate@ledgerline.test', 60, { contextOptions: { permissions: ['background-sync'] } });
  // a 1.5 s budget for this test (the real one is 150 s); DynamoDB slow: 500 ms a request
  await a.page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('ledgerline-engine');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction('context', 'readwrite');
      tx.objectStore('context').put(JSON.stringify({ syncBudgetMs: 1500 }), 'tuning');
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    };
  }));
  await a.page.close();
  await stack.proxy.set({ mode: 'pass', latencyMs: 500 });
  const blank = await fire(a.context, 'ServiceWorker.dispatchSyncEvent', 'ledgerline-replay');
  const items = await until('all 61 invoices in DynamoDB', async () => {
    const r = await remote(a.sub);
    return r.length === 61 && r;
  }, 120000);
  assert.equal(ledgerlinePages(a.context).length, 0, 'sent with no Ledgerline page open');
  assertAllThere(items, a.bundle);
  await stack.proxy.set({ mode: 'pass', latencyMs: 0 });
  const page = await a.context.newPage();
  await page.goto(stack.server.url + 'data');
  await ready(page);
  await tid(page, 'log-show').click();
  await tid(page, 'log-row').filter({ hasText: 'background.late' }).filter({ hasText: 'ran out with changes left' }).first().waitFor();
  await until('the queue empty', async () => (await syncStore(page, 'queue')).length === 0);
  assert.equal((await syncStore(page, 'conflicts')).length, 0);
  assert.equal((await remote(a.sub)).length, 61, 'after: 61, each written once');
  await blank.close();
  await a.close();
});

test('offline for real (the browser\'s network off): the page asks for a background sync; the page closed, the network back, the browser fires it by itself and everything arrives', async () => {
  const a = await synced('bgonline@ledgerline.test', 'Synced first', { contextOptions: { permissions: ['background-sync'] } });
  const exported = await exportOf(a.page);
  await a.context.setOffline(true);
  await status(a.page, 'local');
  const bundle = bundleOf(exported, 20, 'ON');
  await importBundle(a.page, bundle, 'online');
  await until('20 changes queued', async () => (await syncStore(a.page, 'queue')).length === 20);
  const tags = await until('the sync tag registered', () => a.page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    const t = await reg.sync.getTags();
    return t.length && t;
  }), 10000);
  assert.deepEqual(tags, ['ledgerline-replay']);
  await a.page.close();
  await a.context.setOffline(false);
  const items = await until('all 21 invoices in DynamoDB', async () => {
    const r = await remote(a.sub);
    return r.length === 21 && r;
  }, 60000);
  assert.equal(ledgerlinePages(a.context).length, 0, 'sent with no Ledgerline page open');
  assertAllThere(items, bundle);
  await a.close();
});

test('credentials expired when the sync event fires: nothing is sent and nothing lost; once new credentials are saved everything goes', async () => {
  const a = await queued('bgexpired@ledgerline.test', 30, { contextOptions: { permissions: ['background-sync'] } });
  await a.page.close();
  await stack.proxy.set({ mode: 'expired' });
  const before = await stack.proxy.stats();
  const blank = await fire(a.context, 'ServiceWorker.dispatchSyncEvent', 'ledgerline-replay');
  await until('the service worker\'s replay refused by DynamoDB', async () => {
    const now = await stack.proxy.stats();
    return now.requests > before.requests;
  }, 30000);
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal((await remote(a.sub)).length, 1, 'nothing sent with expired credentials');

  // the app, opened again (the credentials still expired): the 30 changes still wait
  const page = await a.context.newPage();
  await page.goto(stack.server.url);
  await ready(page);
  assert.equal((await syncStore(page, 'queue')).length, 30, 'nothing lost');
  assert.equal((await remote(a.sub)).length, 1, 'nothing sent');
  await nav(page, 'Data');
  await tid(page, 'log-show').click();
  await tid(page, 'log-row').filter({ hasText: 'background.replay' }).filter({ hasText: 'credentials expired' }).first().waitFor();
  // the lab restarted and its new credentials saved: everything goes
  await stack.proxy.set({ mode: 'pass' });
  await nav(page, 'Settings');
  await tid(page, 'cred-block').fill(BLOCK);
  await tid(page, 'cred-save').click();
  const items = await until('all 31 invoices in DynamoDB', async () => {
    const r = await remote(a.sub);
    return r.length === 31 && r;
  }, 60000);
  assertAllThere(items, a.bundle);
  await until('the queue empty', async () => (await syncStore(page, 'queue')).length === 0);
  await blank.close();
  await a.close();
});

test('without the Sync API (SyncManager deleted) the app still delivers everything saved offline, from the page', async () => {
  const noSync = () => {
    delete self.SyncManager;
    if (self.ServiceWorkerRegistration) delete ServiceWorkerRegistration.prototype.sync;
    delete self.PeriodicSyncManager;
    if (self.ServiceWorkerRegistration) delete ServiceWorkerRegistration.prototype.periodicSync;
  };
  const a = await signedIn('bgnosync@ledgerline.test', { persistent: true });
  await a.context.addInitScript(noSync);
  await a.page.reload();
  await ready(a.page);
  assert.equal(await a.page.evaluate(() => 'SyncManager' in self), false);
  await status(a.page, 'connected');
  await addClient(a.page, 'No Sync Client');
  await quickInvoice(a.page, 'Synced first');
  await until('the first invoice in DynamoDB', async () => (await remote(a.sub)).length === 1);
  const exported = await exportOf(a.page);
  await stack.proxy.set({ mode: 'drop' });
  await status(a.page, 'local');
  const bundle = bundleOf(exported, 20, 'NS');
  await importBundle(a.page, bundle, 'nosync');
  await until('20 changes queued', async () => (await syncStore(a.page, 'queue')).length === 20);
  await stack.proxy.set({ mode: 'pass' });
  const items = await until('all 21 invoices in DynamoDB', async () => {
    const r = await remote(a.sub);
    return r.length === 21 && r;
  }, 60000);
  assertAllThere(items, bundle);
  await status(a.page, 'connected');
  assert.deepEqual(a.page.errors.filter((e) => !e.includes('Failed to load resource')), []);
  await a.close();
});

test('a tab\'s cloud worker and the service worker racing for the same queue: each change is written once', async () => {
  const a = await queued('bgrace@ledgerline.test', 100, { contextOptions: { permissions: ['background-sync'] } });
  // the network back: the tab replays after its next check, the service worker at once
  await stack.proxy.set({ mode: 'pass', latencyMs: 30 });
  const blank = await fire(a.context, 'ServiceWorker.dispatchSyncEvent', 'ledgerline-replay');
  const items = await until('all 101 invoices in DynamoDB', async () => {
    const r = await remote(a.sub);
    return r.length === 101 && r;
  }, 90000);
  assertAllThere(items, a.bundle);
  await status(a.page, 'connected');
  await until('the queue empty', async () => (await syncStore(a.page, 'queue')).length === 0);
  assert.equal((await syncStore(a.page, 'conflicts')).length, 0, 'no conflict: nothing was written twice');
  assert.equal(ledgerlinePages(a.context).length, 1);
  await blank.close();
  await a.close();
});

test('a periodic sync event with no Ledgerline page open sends what waits', async () => {
  const a = await queued('bgperiodic@ledgerline.test', 10);
  await a.page.close();
  await stack.proxy.set({ mode: 'pass' });
  const blank = await fire(a.context, 'ServiceWorker.dispatchPeriodicSyncEvent', 'ledgerline-periodic');
  const items = await until('all 11 invoices in DynamoDB', async () => {
    const r = await remote(a.sub);
    return r.length === 11 && r;
  }, 60000);
  assertAllThere(items, a.bundle);
  assert.equal(ledgerlinePages(a.context).length, 0);
  await blank.close();
  await a.close();
});

/** The entries of IndexedDB `ledgerline-engine` store `store`, parsed. */
const engineStore = (page, store) => page.evaluate((store) => new Promise((resolve, reject) => {
  const open = indexedDB.open('ledgerline-engine');
  open.onupgradeneeded = () => open.transaction.abort(); // not made yet: never make it here
  open.onerror = () => (open.error?.name === 'AbortError' ? resolve([]) : reject(open.error));
  open.onsuccess = (e) => {
    const db = e.target.result;
    if (!db.objectStoreNames.contains(store)) return resolve([]);
    db.transaction(store).objectStore(store).getAll().onsuccess = (g) => resolve(g.target.result.map((v) => JSON.parse(v)));
  };
}), store);

test('what the service worker learns with no page open (DynamoDB won a conflict) waits in the inbox; the app stores it at start-up, DynamoDB unreachable, and keeps the local version under Conflicts', async () => {
  const a = await synced('bginbox@ledgerline.test', 'Edited on two devices', { contextOptions: { permissions: ['background-sync'] } });
  const [inv] = await remote(a.sub);
  await stack.proxy.set({ mode: 'drop' });
  await status(a.page, 'local');
  await editNotes(a.page, inv.id, 'mine, offline');
  await until('the edit queued', async () => (await syncStore(a.page, 'queue')).length === 1);
  assert.deepEqual(await engineStore(a.page, 'context').then((c) => c.filter((x) => x.scope).map((x) => x.user)), [a.sub], 'the page told the engine whom it syncs for');
  await putRemote(a.sub, inv.id, inv.version + 1, { ...inv.content, notes: 'theirs, from another device' });
  await a.page.close();

  await stack.proxy.set({ mode: 'pass' });
  const before = (await stack.proxy.stats()).requests;
  const blank = await fire(a.context, 'ServiceWorker.dispatchSyncEvent', 'ledgerline-replay');
  // the service worker's replay: its write refused, DynamoDB's version read; then quiet
  let last = -1;
  await until('the service worker done', async () => {
    const now = (await stack.proxy.stats()).requests;
    const quiet = now === last && now > before + 1;
    last = now;
    if (!quiet) await new Promise((r) => setTimeout(r, 1500));
    return quiet;
  }, 60000);

  // opened with DynamoDB unreachable: DynamoDB's version is here anyway, from the inbox
  await stack.proxy.set({ mode: 'drop' });
  const page = await a.context.newPage();
  await page.goto(stack.server.url);
  await ready(page);
  await until('DynamoDB\'s version stored from the inbox', () => page.evaluate((id) => {
    const k = Object.keys(localStorage).find((k) => k.endsWith('/invoice/' + id));
    const v = k && JSON.parse(localStorage.getItem(k));
    return v && v.notes === 'theirs, from another device' && v.version === 2;
  }, inv.id), 20000);
  await tid(page, 'nav').getByRole('link', { name: /^Conflicts/ }).filter({ hasText: 'Conflicts (1)' }).waitFor();
  const kept = await syncStore(page, 'conflicts');
  assert.equal(kept.length, 1);
  assert.equal(kept[0].local.notes, 'mine, offline', 'the local version kept for review');
  await until('the inbox emptied once stored', async () => (await engineStore(page, 'inbox')).length === 0);
  assert.notEqual(await tid(page, 'storage-status').getAttribute('data-state'), 'connected');
  const [after] = await remote(a.sub);
  assert.equal(after.version, 2);
  assert.equal(after.content.notes, 'theirs, from another device', 'DynamoDB keeps its version');
  await blank.close();
  await a.close();
});

test('the service worker makes the due automatic export on a periodic sync with no page open, from the latest copy the page keeps with every save', async () => {
  const a = await signedIn('bgexport@ledgerline.test', { persistent: true });
  await status(a.page, 'connected');
  await a.page.waitForFunction(() => navigator.serviceWorker.controller, null, { timeout: 30000 });
  // The pages of this setup look for a due export 3 s after each load and would make
  // their own (the user never exported, and there is data) if a load and that look
  // raced the steps below: the last export is noted as just made, for the pages only
  // (the service worker knows only the exports kept in IndexedDB). It is taken back
  // before the last page opens, whose start-up look must then count the service
  // worker's export as the last one.
  const lastKey = `ledgerline/v1/${a.sub}/auto-export`;
  await a.page.evaluate((k) => localStorage.setItem(k, String(Date.now())), lastKey);
  await addClient(a.page, 'Background Client');
  await quickInvoice(a.page, 'First to export');
  await until('the first invoice in DynamoDB', async () => (await remote(a.sub)).length === 1);
  await quickInvoice(a.page, 'Second to export');
  // the latest copy follows the saves; no automatic export yet
  const latest = await until('the latest copy with both invoices', async () => {
    const l = (await backups(a.page)).find((b) => b.reason === 'latest copy');
    return l?.invoices === 2 && l;
  }, 20000);
  assert.deepEqual((await backups(a.page)).filter((b) => b.reason.startsWith('automatic export')), []);
  // an export folder chosen (nothing to write yet): the service worker's export goes
  // there when a page next opens
  await a.context.addInitScript(folderPicker);
  await a.page.reload();
  await ready(a.page);
  await nav(a.page, 'Settings');
  await tid(a.page, 'folder-choose').click();
  await tid(a.page, 'folder-message').filter({ hasText: 'the next one goes there' }).waitFor();
  assert.deepEqual(await folderFiles(a.page), []);
  await a.page.close();

  const startedAt = Date.now();
  const blank = await fire(a.context, 'ServiceWorker.dispatchPeriodicSyncEvent', 'ledgerline-periodic');
  // read from a new page only once the service worker has written it (looked at from a
  // same-origin page that is not the app)
  await new Promise((r) => setTimeout(r, 4000));
  const probe = await a.context.newPage();
  await probe.goto(stack.server.url + 'manifest.json');
  await until('the service worker\'s export', async () => (await backups(probe)).some((b) => b.reason === 'automatic export (service worker)'));
  await probe.evaluate((k) => localStorage.removeItem(k), lastKey);
  await probe.close();
  const page = await a.context.newPage();
  await page.goto(stack.server.url + 'data');
  await ready(page);
  const autos = (await backups(page)).filter((b) => b.reason.startsWith('automatic export'));
  assert.deepEqual(autos.map((b) => b.reason), ['automatic export (service worker)'], 'one automatic export, made by the service worker');
  assert.ok(autos[0].at >= startedAt, 'made after the periodic sync event');
  assert.equal(autos[0].invoices, 2);
  // the latest copy, exported whole (a page load writes it again with a new export time)
  const [exported, kept] = [JSON.parse(autos[0].bundle), JSON.parse(latest.bundle)];
  assert.deepEqual([exported.invoices, exported.clients, exported.profile], [kept.invoices, kept.clients, kept.profile], 'the latest copy, exported whole');
  assert.equal(JSON.parse(autos[0].bundle).invoices.length, 2);
  await tid(page, 'log-show').click();
  await tid(page, 'log-row').filter({ hasText: 'background.export' }).filter({ hasText: '2 invoices' }).first().waitFor();
  // the page counts it as the last export: none more at its start-up look
  await new Promise((r) => setTimeout(r, 4000));
  assert.equal((await backups(page)).filter((b) => b.reason.startsWith('automatic export')).length, 1);
  await tid(page, 'backup-row').filter({ hasText: 'automatic export (service worker)' }).first().waitFor();
  const files = await until('the export in the folder', async () => { const f = await folderFiles(page); return f.length > 0 && f; });
  assert.equal(files.length, 1, 'the service worker\'s export written to the folder by the page');
  assert.equal(files[0].invoices, 2);
  await blank.close();
  await a.close();
});
