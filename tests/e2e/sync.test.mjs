// The sync queue: offline work reaches DynamoDB by itself when it comes back, in
// batches, exactly once; conflicts keep DynamoDB's version.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TABLE } from '../support/standins.mjs';
import { ready, tid, addClient } from './helpers.mjs';
import { startCloudStack, kit } from './cloud-stack.mjs';

let stack, server, browser, proxy, cognito, pool, db;
before(async () => {
  stack = await startCloudStack('sync');
  ({ server, browser, proxy, cognito, pool, db } = stack);
});
after(async () => {
  await stack?.stop();
});

const { signedIn, status, remote, putRemote, putTombstone, quickInvoice, explain } = kit(() => stack);

test('offline: 200 created, 20 edited, 5 deleted; DynamoDB back: the queue drains to exactly 195 items with the latest content', async () => {
  const { context, page, sub } = await signedIn('sync@ledgerline.test');
  await status(page, 'connected');
  await addClient(page, 'Queue Client');
  await stack.dynamo.stop();
  await status(page, 'local');

  for (let i = 0; i < 200; i++) await explain(page, () => quickInvoice(page, `Offline item ${i}`));
  const ids = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('/invoice/')).map((k) => k.split('/').pop()));
  assert.equal(ids.length, 200);
  for (const id of ids.slice(0, 20)) {
    await page.goto(server.url + 'invoices/' + id);
    await tid(page, 'inv-notes').fill('edited offline');
    await tid(page, 'inv-save').click();
    await tid(page, 'invoice-table').waitFor();
  }
  for (const id of ids.slice(20, 25)) {
    const row = page.locator(`[data-testid="invoice-row"][data-id="${id}"]`);
    if (!(await row.count())) {
      await tid(page, 'invoice-search').fill(await page.evaluate((id) => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith(id)))).number, id));
    }
    await row.getByTestId('invoice-delete').click();
    await row.getByTestId('invoice-delete-confirm').click();
    await tid(page, 'invoice-search').fill('');
  }
  await page.waitForSelector('[data-testid="storage-status"]:has-text("network unreachable")');
  assert.equal((await remote(sub).catch(() => [])).length, 0);

  const before = await proxy.stats();
  await stack.restartDynamo();
  await status(page, 'connected', 30000);
  const items = await remote(sub);
  assert.equal(items.length, 195);
  const byId = new Map(items.map((i) => [i.id, i]));
  for (const id of ids.slice(0, 20)) assert.equal(byId.get(id).content.notes, 'edited offline');
  for (const id of ids.slice(20, 25)) assert.ok(!byId.has(id), 'a deleted invoice reached DynamoDB');
  for (const id of ids.slice(25)) assert.ok(byId.has(id));
  const after = await proxy.stats();
  const delta = (op) => (after.byTarget[op] || 0) - (before.byTarget[op] || 0);
  // dynalite has no TransactWriteItems: after one refused attempt the replay sends the same
  // conditional writes one by one; each lands exactly once
  assert.equal(delta('PutItem'), 195, 'every write exactly once');
  assert.equal(delta('DeleteItem'), 0, 'deletes of never-uploaded invoices cancel their puts');
  assert.ok(delta('TransactWriteItems') <= 2);
  assert.equal(await tid(page, 'storage-status').getAttribute('data-state'), 'connected');
  assert.deepEqual(page.errors.filter((e) => !/Failed to load resource/.test(e)), []);
  await context.close();
});

test('conflict: edited offline here and directly in DynamoDB: DynamoDB wins and the local edit is kept aside', async () => {
  const { context, page, sub } = await signedIn('conflict@ledgerline.test');
  await status(page, 'connected');
  await addClient(page, 'Conflict Client');
  await quickInvoice(page, 'Shared invoice');
  const [{ id }] = await (async () => { for (;;) { const r = await remote(sub); if (r.length) return r; await new Promise((r) => setTimeout(r, 100)); } })();

  await proxy.set({ mode: 'drop' });
  await status(page, 'local');
  await explain(page, async () => {
    await page.goto(server.url + 'invoices/' + id);
    await tid(page, 'inv-notes').fill('my offline edit');
    await tid(page, 'inv-save').click();
    await tid(page, 'invoice-table').waitFor();
  });

  // someone else writes version 7 straight into DynamoDB
  const [theirs] = await remote(sub);
  const content = { ...theirs.content, notes: 'their edit in DynamoDB' };
  await putRemote(sub, id, 7, content);

  await proxy.set({ mode: 'pass' });
  await page.waitForSelector('[data-testid="toast"]:has-text("changed in DynamoDB meanwhile")', { timeout: 20000 });
  const local = await page.evaluate((id) => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith('/invoice/' + id)))), id);
  assert.equal(local.notes, 'their edit in DynamoDB');
  assert.equal(local.version, 7);
  const [after] = await remote(sub);
  assert.equal(after.content.notes, 'their edit in DynamoDB');
  const conflicts = await page.evaluate(() => new Promise((resolve) => {
    indexedDB.open('ledgerline-sync').onsuccess = (e) => {
      e.target.result.transaction('conflicts').objectStore('conflicts').getAll().onsuccess = (g) => resolve(g.target.result.map((s) => JSON.parse(s)));
    };
  }));
  assert.equal(conflicts.length, 1);
  assert.equal(conflicts[0].local.notes, 'my offline edit');
  assert.equal(conflicts[0].remote.notes, 'their edit in DynamoDB');
  await context.close();
});

test('pull: another device sees the invoice; its edits and deletes (tombstones) reach this device', async () => {
  const a = await signedIn('twodev@ledgerline.test');
  await status(a.page, 'connected');
  await addClient(a.page, 'Pull Client');
  await quickInvoice(a.page, 'Made on device A');
  let items;
  for (let i = 0; i < 100 && !(items = await remote(a.sub)).length; i++) await new Promise((r) => setTimeout(r, 100));
  const [{ id }] = items;

  const b = await signedIn('twodev@ledgerline.test', { create: false });
  await b.page.goto(server.url);
  await ready(b.page);
  await b.page.locator(`[data-testid="invoice-row"][data-id="${id}"]`).waitFor({ timeout: 20000 });

  const [theirs] = await remote(a.sub);
  const content = { ...theirs.content, notes: 'edited in DynamoDB' };
  await putRemote(a.sub, id, theirs.version + 1, content);
  await b.page.reload();
  await ready(b.page);
  const notes = () => b.page.evaluate((id) => {
    const k = Object.keys(localStorage).find((k) => k.endsWith('/invoice/' + id));
    return k ? JSON.parse(localStorage.getItem(k)).notes : null;
  }, id);
  for (let i = 0; i < 200 && (await notes()) !== 'edited in DynamoDB'; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await notes(), 'edited in DynamoDB');

  // another device deletes it: a tombstone after the version it saw
  await putTombstone(a.sub, id, theirs.version + 2);
  await b.page.reload();
  await ready(b.page);
  for (let i = 0; i < 200 && (await notes()) !== null; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await notes(), null);
  assert.equal(await b.page.locator(`[data-testid="invoice-row"][data-id="${id}"]`).count(), 0);
  await a.context.close();
  await b.context.close();
});
