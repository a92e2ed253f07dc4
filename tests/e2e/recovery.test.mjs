// The sync engine when things go wrong mid-way: the server killed during a replay,
// credentials expiring during a replay, two tabs, a tab gone before its change was
// queued, conflicts reviewed by the user, damaged data repaired, backups restored.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { TABLE } from '../support/standins.mjs';
import { appErrors, recordErrors } from '../support/browser.mjs';
import { ready, tid, nav, addClient, download } from './helpers.mjs';
import { startCloudStack, kit, BLOCK } from './cloud-stack.mjs';

let stack;
before(async () => {
  stack = await startCloudStack('recovery');
});
after(async () => {
  await stack?.stop();
});
// one failed test must not leave the next one offline
beforeEach(async () => {
  await stack?.reset();
});
const { signedIn, status, remote, putRemote, putTombstone, tombstones, until, quickInvoice, editNotes, deleteInvoice, explain, syncStore, bundleOf, importBundle, checksumOf } = kit(() => stack);

/** Signed in, connected, with one client and one uploaded invoice; returns its export. */
async function start(email) {
  const s = await signedIn(email);
  await status(s.page, 'connected');
  await addClient(s.page, 'Recovery Client');
  await quickInvoice(s.page, 'Template line');
  await until('the first invoice in DynamoDB', async () => (await remote(s.sub)).length === 1);
  await nav(s.page, 'Data');
  const exported = JSON.parse((await download(s.page, 'export-json')).text);
  return { ...s, exported };
}

const delta = (a, b, op) => (b.byTarget[op] || 0) - (a.byTarget[op] || 0);

test('server killed in the middle of a replay, then restarted: the same end state, no duplicates, no losses', async () => {
  const { context, page, sub, exported } = await start('killed@ledgerline.test');
  await stack.dynamo.stop();
  await status(page, 'local');
  await importBundle(page, bundleOf(exported, 200, 'K'), 'killed');
  const ids = Array.from({ length: 200 }, (_, i) => `k-${String(i).padStart(5, '0')}`);
  for (const id of ids.slice(0, 20)) await explain(page, () => editNotes(page, id, `edited offline ${id}`));
  await nav(page, 'Invoices');
  for (const id of ids.slice(20, 25)) await explain(page, () => deleteInvoice(page, id));
  const localIds = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('/invoice/')).map((k) => k.split('/').pop()));
  assert.equal(localIds.length, 196, 'deleted here');
  // every change queued: 195 puts, and for the 5 deleted ones either nothing (never sent)
  // or a delete (the service worker's background sync tried to send them while the server
  // was down, so they may have landed: their deletion goes as a tombstone)
  await until('every change queued', async () => {
    const q = await syncStore(page, 'queue');
    const deleted = new Set(ids.slice(20, 25));
    const puts = q.filter((o) => o.kind.put);
    return puts.length === 195 && puts.every((o) => !deleted.has(o.invoiceId))
      && q.filter((o) => !o.kind.put).every((o) => deleted.has(o.invoiceId))
      && ids.slice(0, 20).every((id) => puts.some((o) => o.invoiceId === id && o.kind.put.notes === `edited offline ${id}`));
  }).catch(async (e) => { const q = await syncStore(page, 'queue'); throw new Error(`${e.message}: ${q.length} queued`); });
  assert.equal(await page.evaluate((sub) => localStorage.getItem('ledgerline/v1/outbox/' + sub), sub), null, 'nothing left in the outbox');

  // slow enough to stop the server part-way
  await stack.proxy.set({ mode: 'pass', latencyMs: 40 });
  const before = await stack.proxy.stats();
  await stack.restartDynamo();
  await until('part of the replay', async () => delta(before, await stack.proxy.stats(), 'PutItem') >= 40, 60000);
  await stack.dynamo.stop();
  const partial = (await stack.proxy.stats());
  assert.ok(delta(before, partial, 'PutItem') < 195, 'the replay was still running when the server died');
  await status(page, 'local', 30000);
  const left = (await syncStore(page, 'queue')).length;
  const killed = await stack.proxy.stats();
  await stack.restartDynamo();
  await status(page, 'connected', 60000);
  await until('the queue to drain', async () => (await syncStore(page, 'queue')).length === 0, 60000);
  await stack.proxy.set({ mode: 'pass', latencyMs: 0 });

  const items = await remote(sub);
  // what was left reaches the server once each (a write that landed unanswered is sent
  // again once); attempts the backoff made while the server was down never reached it
  const reached = (a, b) => (b.answered.PutItem || 0) - (a.answered.PutItem || 0);
  const end = await stack.proxy.stats();
  if (delta(killed, end, 'Query') === 0) {
    assert.equal(reached(killed, end), left, 'no write sent twice after the restart');
  } else {
    // the change marker had moved (a write of it landed with its answer lost): a pull ran
    // and recognised the writes that had landed before the kill instead of sending them
    assert.ok(reached(killed, end) <= left, `no write sent twice after the restart: ${reached(killed, end)} of ${left}`);
  }
  assert.equal(items.length, 196, 'the template plus 200 imported minus 5 deleted');
  const byId = new Map(items.map((i) => [i.id, i]));
  for (const id of ids.slice(0, 20)) assert.equal(byId.get(id).content.notes, `edited offline ${id}`);
  for (const id of ids.slice(20, 25)) assert.ok(!byId.has(id), `${id} was deleted here`);
  for (const id of ids.slice(25)) assert.equal(byId.get(id).content.notes, `bulk ${Number(id.slice(2))}`);
  for (const i of items) assert.equal(checksumOf(i.content), i.checksum, 'intact in DynamoDB');
  assert.deepEqual(await syncStore(page, 'queue'), [], 'the queue is empty');
  // a write that landed just before the server died is recognised on the retry, not
  // mistaken for a conflict
  assert.deepEqual(await syncStore(page, 'conflicts'), []);
  assert.deepEqual(appErrors(page).filter((e) => !/ERR_|net::/.test(e)), []);
  await context.close();
});

test('credentials expire in the middle of a replay: it pauses, the renewal prompt appears, and after renewal it completes', async () => {
  const { context, page, sub, exported } = await start('expiring@ledgerline.test');
  await stack.proxy.set({ mode: 'drop' });
  await status(page, 'local');
  await importBundle(page, bundleOf(exported, 120, 'E'), 'expiring');

  // the next check, pull and part of the replay pass; then every call says "expired"
  await stack.proxy.set({ mode: 'expired', after: 30, latencyMs: 20 });
  await status(page, 'expired', 30000);
  await tid(page, 'renew-prompt').waitFor();
  const during = (await remote(sub)).length;
  assert.ok(during > 1 && during < 121, `part of the queue went before the credentials expired (${during} items)`);
  const waiting = (await syncStore(page, 'queue')).length;
  assert.equal(waiting, 121 - during, 'the rest waits in the queue');
  // paused: nothing is retried with expired credentials
  const paused = await stack.proxy.stats();
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(delta(paused, await stack.proxy.stats(), 'PutItem'), 0, 'no writes while the credentials are expired');

  // the user renews: pastes a fresh block (the proxy accepts again)
  await stack.proxy.set({ mode: 'pass', latencyMs: 0 });
  await nav(page, 'Settings');
  await tid(page, 'cred-block').fill(BLOCK);
  await tid(page, 'cred-save').click();
  await status(page, 'connected', 30000);
  await until('the queue to drain', async () => (await syncStore(page, 'queue')).length === 0);
  assert.equal((await remote(sub)).length, 121);
  assert.equal(await tid(page, 'renew-prompt').count(), 0);
  await context.close();
});

test('two tabs: one replay at a time (each write sent once), and both tabs show the same status and progress', async () => {
  const { context, page: a, sub, exported } = await start('twotabs@ledgerline.test');
  const b = recordErrors(await context.newPage());
  await b.goto(stack.server.url);
  await ready(b);
  await status(b, 'connected');
  await stack.proxy.set({ mode: 'drop' });
  await status(a, 'local');
  await status(b, 'local');
  await importBundle(a, bundleOf(exported, 80, 'T'), 'twotabs');
  for (const p of [a, b]) {
    await p.evaluate(() => {
      window.__sawProgress = false;
      new MutationObserver(() => {
        if (document.querySelector('[data-testid="sync-progress"]')) window.__sawProgress = true;
      }).observe(document.body, { childList: true, subtree: true });
    });
  }
  const before = await stack.proxy.stats();
  await stack.proxy.set({ mode: 'pass', latencyMs: 30 });
  await status(a, 'connected', 30000);
  await status(b, 'connected', 30000);
  await until('the queue to drain', async () => (await syncStore(a, 'queue')).length === 0, 60000);
  await stack.proxy.set({ mode: 'pass', latencyMs: 0 });
  const afterStats = await stack.proxy.stats();
  assert.equal((await remote(sub)).length, 81);
  // both tabs try to replay on their checks; the Web Lock lets one at a time, and the
  // second finds the queue already sent: every write goes exactly once
  assert.equal(delta(before, afterStats, 'PutItem'), 80, 'each queued write was sent exactly once');
  assert.equal(await a.evaluate(() => window.__sawProgress), true, 'tab A showed "Syncing X of Y"');
  assert.equal(await b.evaluate(() => window.__sawProgress), true, 'tab B showed "Syncing X of Y"');
  assert.equal(await tid(a, 'storage-status').textContent(), await tid(b, 'storage-status').textContent());
  await context.close();
});

test('a change saved just before the tab went away reaches the queue at the next start (outbox)', async () => {
  // service workers blocked so that the cloud worker's script can be replaced below
  const { context, page, sub } = await signedIn('outbox@ledgerline.test', { contextOptions: { serviceWorkers: 'block' } });
  await status(page, 'connected');
  await addClient(page, 'Outbox Client');
  await page.close();

  // a cloud worker that never answers: the tab "goes away" before anything is queued
  await context.route('**/cloud-worker.js', (r) => r.fulfill({ status: 200, contentType: 'text/javascript', body: '/* silent */' }));
  const mute = recordErrors(await context.newPage());
  await mute.goto(stack.server.url);
  await ready(mute);
  await quickInvoice(mute, 'Saved as the tab closed');
  const outbox = await mute.evaluate((sub) => JSON.parse(localStorage.getItem('ledgerline/v1/outbox/' + sub) || '{}'), sub);
  const [id] = Object.keys(outbox);
  assert.ok(id, 'the change is noted in the outbox in the same turn as the save');
  await mute.close();
  await context.unroute('**/cloud-worker.js');

  // next start, DynamoDB unreachable: no pull can run, only the outbox can queue it
  await stack.proxy.set({ mode: 'drop' });
  const page2 = recordErrors(await context.newPage());
  await page2.goto(stack.server.url);
  await ready(page2);
  await until('the outbox to be queued', async () => (await syncStore(page2, 'queue')).some((op) => op.invoiceId === id));
  // two-phase: the note goes once the worker has answered that the queue holds it
  await until('the outbox emptied once queued', async () => (await page2.evaluate((sub) => localStorage.getItem('ledgerline/v1/outbox/' + sub), sub)) === null, 10000);
  await stack.proxy.set({ mode: 'pass' });
  await until('the invoice in DynamoDB', async () => (await remote(sub)).some((i) => i.id === id));
  await context.close();
});

test('conflicts screen: both versions side by side; "restore mine" makes a new version that reaches DynamoDB; deleted remotely is shown', async () => {
  const { context, page, sub } = await signedIn('review@ledgerline.test');
  await status(page, 'connected');
  await addClient(page, 'Review Client');
  await quickInvoice(page, 'Edited on both sides');
  await quickInvoice(page, 'Deleted in DynamoDB');
  const items = await until('both invoices in DynamoDB', async () => { const r = await remote(sub); return r.length === 2 && r; });
  const edited = items.find((i) => i.content.lines[0].description === 'Edited on both sides');
  const gone = items.find((i) => i.content.lines[0].description === 'Deleted in DynamoDB');

  await stack.proxy.set({ mode: 'drop' });
  await status(page, 'local');
  await editNotes(page, edited.id, 'my offline edit');
  await editNotes(page, gone.id, 'edited here, deleted there');
  const content = { ...edited.content, notes: 'their edit in DynamoDB' };
  await putRemote(sub, edited.id, 7, content);
  await putTombstone(sub, gone.id, gone.version + 1);
  await stack.proxy.set({ mode: 'pass' });
  await page.waitForSelector('[data-testid="toast"]:has-text("changed in DynamoDB meanwhile")', { timeout: 20000 });

  await tid(page, 'nav').getByRole('link', { name: 'Conflicts (2)' }).click();
  const one = page.locator(`[data-testid="conflict"][data-id="${edited.id}"]`);
  const notes = one.locator('[data-testid="conflict-field"][data-field="Notes"]');
  assert.equal(await notes.locator('.mine').textContent(), 'my offline edit');
  assert.equal(await notes.locator('.theirs').textContent(), 'their edit in DynamoDB');
  const two = page.locator(`[data-testid="conflict"][data-id="${gone.id}"]`);
  assert.match(await two.textContent(), /Deleted in DynamoDB/);
  assert.equal(await two.locator('[data-testid="conflict-field"][data-field="Notes"] .theirs').textContent(), '(deleted)');
  // the deleted one is gone here too, until the user decides
  assert.equal(await page.evaluate((id) => Object.keys(localStorage).some((k) => k.endsWith('/invoice/' + id)), gone.id), false);

  await one.getByTestId('conflict-restore-mine').click();
  await tid(page, 'conflicts-note').filter({ hasText: 'Restored your version' }).waitFor();
  await two.getByTestId('conflict-restore-mine').click();
  await tid(page, 'conflicts-empty').waitFor();
  const after = await until('both restored in DynamoDB', async () => {
    const r = await remote(sub);
    const e = r.find((i) => i.id === edited.id);
    const g = r.find((i) => i.id === gone.id);
    return e?.content.notes === 'my offline edit' && g?.content.notes === 'edited here, deleted there' && { e, g };
  });
  assert.equal(after.e.version, 8, 'a new version on top of DynamoDB\'s');
  // the deleted one comes back after its tombstone (version + 1), never as a version
  // a device holding the deleted original could take for it
  assert.equal(after.g.version, gone.version + 2, 'restored as the tombstone\'s version + 1');
  assert.deepEqual(await tombstones(sub), [], 'the restore replaced the tombstone');
  assert.deepEqual(await syncStore(page, 'conflicts'), []);
  assert.equal(await tid(page, 'nav').getByRole('link', { name: /Conflicts/ }).count(), 0);
  await context.close();
});

test('a damaged local invoice is repaired from DynamoDB; a backup is taken before each sync and restores', async () => {
  const { context, page, sub } = await signedIn('repair@ledgerline.test');
  await status(page, 'connected');
  await addClient(page, 'Repair Client');
  await quickInvoice(page, 'Will be damaged');
  await quickInvoice(page, 'Will be restored');
  const items = await until('both in DynamoDB', async () => { const r = await remote(sub); return r.length === 2 && r; });
  const damaged = items.find((i) => i.content.lines[0].description === 'Will be damaged');
  const restored = items.find((i) => i.content.lines[0].description === 'Will be restored');

  // damage one invoice in this browser (changed outside the app: its checksum fails)
  await page.evaluate((id) => {
    const k = Object.keys(localStorage).find((k) => k.endsWith('/invoice/' + id));
    const v = JSON.parse(localStorage.getItem(k));
    v.notes = 'tampered';
    localStorage.setItem(k, JSON.stringify(v));
  }, damaged.id);
  // and change the other one in DynamoDB, so the next pull changes local data
  const content = { ...restored.content, notes: 'changed in DynamoDB' };
  await putRemote(sub, restored.id, restored.version + 1, content);
  await page.reload();
  await ready(page);
  await page.waitForSelector('[data-testid="toast"]:has-text("Repaired from DynamoDB")', { timeout: 20000 });
  await tid(page, 'damaged-banner').waitFor({ state: 'detached' });
  const local = (id) => page.evaluate((id) => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith('/invoice/' + id)))), id);
  assert.equal((await local(damaged.id)).notes, '', 'the intact copy from DynamoDB');
  assert.equal((await local(restored.id)).notes, 'changed in DynamoDB');
  await nav(page, 'Data');
  await tid(page, 'log-show').click();
  await page.locator('[data-testid="log-row"][data-kind="integrity.repairLocal"]').first().waitFor();

  // the backup taken before that sync has the data as it was before it
  const row = tid(page, 'backup-row').filter({ hasText: 'before sync' }).first();
  await row.waitFor();
  await row.getByTestId('backup-restore').click();
  await tid(page, 'backup-note').filter({ hasText: 'Restored' }).waitFor();
  assert.equal((await local(restored.id)).notes, '', 'back to the backup\'s content');
  assert.equal((await local(restored.id)).version, restored.version + 2, 'as a new version');
  await until('the restored version in DynamoDB', async () => (await remote(sub)).find((i) => i.id === restored.id)?.version === restored.version + 2);
  await tid(page, 'backup-row').filter({ hasText: 'before restore' }).first().waitFor();
  await context.close();
});

test('browser storage full during a pull: DynamoDB\'s version is kept in IndexedDB and restorable once there is room', async () => {
  const { context, page, sub } = await signedIn('fullpull@ledgerline.test');
  await status(page, 'connected');
  await addClient(page, 'Full Client');
  await quickInvoice(page, 'Will change remotely');
  const [mine] = await until('the invoice in DynamoDB', async () => { const r = await remote(sub); return r.length === 1 && r; });
  const content = { ...mine.content, notes: 'newer in DynamoDB '.repeat(40) };
  await putRemote(sub, mine.id, mine.version + 1, content);
  // another app fills the origin's storage to the brim
  await page.evaluate(() => {
    let size = 1 << 20, i = 0;
    while (size >= 16) {
      try { localStorage.setItem('other-app-' + i++, 'x'.repeat(size)); } catch { size = Math.floor(size / 2); }
    }
  });
  await page.reload();
  await ready(page);
  await page.waitForSelector('[data-testid="toast"]:has-text("Browser storage is full")', { timeout: 20000 });
  const local = () => page.evaluate((id) => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith('/invoice/' + id)))), mine.id);
  assert.equal((await local()).version, mine.version, 'the local copy is unchanged');
  await nav(page, 'Data');
  const kept = tid(page, 'backup-row').filter({ hasText: 'kept: browser storage was full' }).first();
  await kept.waitFor();

  // the user frees space and restores what was kept
  await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('other-app-')).forEach((k) => localStorage.removeItem(k)));
  await kept.getByTestId('backup-restore').click();
  await tid(page, 'backup-note').filter({ hasText: 'Restored' }).waitFor();
  assert.match((await local()).notes, /^newer in DynamoDB/);
  await context.close();
});

test('throttled: the replay retries by itself with backoff, long before the next connection check', async () => {
  const { context, page, sub } = await signedIn('throttled@ledgerline.test');
  await status(page, 'connected');
  await addClient(page, 'Throttle Client');
  // checks every 5 minutes: only the backoff can bring the retry in time
  await nav(page, 'Settings');
  await tid(page, 'cloud-interval').fill('300');
  await tid(page, 'cloud-config-save').click();
  await tid(page, 'cloud-config-message').filter({ hasText: 'saved' }).waitFor();
  await stack.proxy.set({ mode: 'throttle', times: 3 });
  const t0 = Date.now();
  await quickInvoice(page, 'Sent despite throttling');
  await until('the invoice in DynamoDB', async () => (await remote(sub)).length === 1, 60000);
  assert.ok(Date.now() - t0 < 60000, 'retried by the backoff, not by the 5-minute check');
  const stats = await stack.proxy.stats();
  assert.ok((stats.byTarget.PutItem || 0) + (stats.byTarget.TransactWriteItems || 0) >= 2, 'it was retried');
  await context.close();
});

test('an item damaged in DynamoDB is never stored here, and this device\'s intact copy repairs it', async () => {
  const { context, page, sub } = await signedIn('remotedamage@ledgerline.test');
  await status(page, 'connected');
  await addClient(page, 'Remote Damage Client');
  await quickInvoice(page, 'Intact here');
  const [mine] = await until('the invoice in DynamoDB', async () => { const r = await remote(sub); return r.length === 1 && r; });
  // damaged in DynamoDB: a newer version whose content does not match its checksum
  const content = { ...mine.content, notes: 'garbled' };
  await putRemote(sub, mine.id, mine.version + 1, content, { checksum: mine.checksum });
  await page.reload();
  await ready(page);
  const fixed = await until('the intact copy back in DynamoDB', async () => {
    const [r] = await remote(sub);
    return r && r.version === mine.version + 2 && r;
  });
  assert.equal(fixed.content.notes, mine.content.notes, 'this device\'s content');
  assert.equal(checksumOf(fixed.content), fixed.checksum, 'intact');
  const local = await page.evaluate((id) => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith('/invoice/' + id)))), mine.id);
  assert.notEqual(local.notes, 'garbled', 'the damaged copy was never stored here');
  await nav(page, 'Data');
  await tid(page, 'log-show').click();
  await page.locator('[data-testid="log-row"][data-kind="integrity.repairRemote"]').first().waitFor();
  await context.close();
});
