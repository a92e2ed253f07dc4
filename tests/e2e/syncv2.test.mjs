// Sync v2, end to end against dynalite behind the signature-checking fault proxy: nothing
// is ever lost. Deletes are tombstones (never inferred from an absence), pulls are
// acknowledged before they count, sync state belongs to (user, target), a stale editor
// takes the conflict path, a wrong clock is measured and corrected, closing the browser
// mid-upload leaves no false conflicts, and the status says "connected" only when
// nothing waits. Every test counts invoices in DynamoDB with an independent client
// (the AWS SDK for JavaScript) before and after, with their versions and content.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { QueryCommand, DeleteTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { TABLE, ensureTable } from '../support/standins.mjs';
import { ready, tid, nav, addClient, download } from './helpers.mjs';
import { startCloudStack, kit } from './cloud-stack.mjs';

let stack;
before(async () => {
  stack = await startCloudStack('syncv2');
});
after(async () => {
  await stack?.stop();
});
beforeEach(async () => {
  await stack?.reset();
});
const {
  signedIn, status, remote, tombstones, putRemote, putTombstone, until, quickInvoice, editNotes,
  deleteInvoice, explain, syncStore, bundleOf, importBundle, checksumOf,
} = kit(() => stack);

/** The invoices in this page's localStorage: id -> {version, notes, checksum}. */
const local = (page) => page.evaluate(() => Object.fromEntries(Object.keys(localStorage)
  .filter((k) => k.includes('/invoice/'))
  .map((k) => {
    try {
      const v = JSON.parse(localStorage.getItem(k));
      return [k.split('/').pop(), { version: v.version, notes: v.notes, checksum: v.checksum }];
    } catch {
      return [k.split('/').pop(), null];
    }
  })));

/** DynamoDB's invoices as a comparable list: [id, version, checksum], sorted. */
const fingerprint = (items) => items.map((i) => [i.id, i.version, i.checksum]).sort();

const delta = (a, b, op) => (b.byTarget[op] || 0) - (a.byTarget[op] || 0);

/** Signed in and connected, with a client and `n` invoices in DynamoDB. */
async function withInvoices(email, n) {
  const s = await signedIn(email);
  await status(s.page, 'connected');
  await addClient(s.page, 'V2 Client');
  for (let i = 0; i < n; i++) await explain(s.page, () => quickInvoice(s.page, `Line ${i}`));
  const items = await until(`${n} invoices in DynamoDB`, async () => { const r = await remote(s.sub); return r.length === n && r; });
  await until('the queue to drain', async () => (await syncStore(s.page, 'queue')).length === 0);
  return { ...s, items };
}

test('I1: a delete is a tombstone (version + 1, no content, a 90-day TTL), never a DeleteItem; another device drops the invoice', async () => {
  const { context, page, sub, items } = await withInvoices('tomb@ledgerline.test', 2);
  const stats0 = await stack.proxy.stats();
  const [gone, kept] = items;
  await deleteInvoice(page, gone.id);
  const [t] = await until('the tombstone in DynamoDB', async () => { const r = await tombstones(sub); return r.length === 1 && r; });
  assert.equal(t.id, gone.id);
  assert.equal(t.version, gone.version + 1);
  assert.equal(t.content, undefined, 'a tombstone carries no content');
  const days = (t.expiresAt - Date.now() / 1000) / 86400;
  assert.ok(days > 89 && days < 91, `expiresAt ${days} days ahead`);
  assert.deepEqual(fingerprint(await remote(sub)), fingerprint([kept]));
  const stats1 = await stack.proxy.stats();
  assert.equal(delta(stats0, stats1, 'DeleteItem'), 0);

  // another device of the same user: the deleted invoice is not there, the other is
  const b = await signedIn('tomb@ledgerline.test', { create: false });
  await b.page.goto(stack.server.url);
  await ready(b.page);
  await until('the kept invoice on device B', async () => Object.keys(await local(b.page)).includes(kept.id));
  assert.deepEqual(Object.keys(await local(b.page)), [kept.id]);
  await context.close();
  await b.context.close();
});

test('problem 1: "Delete all local data" and "Remove" on a damaged entry touch this browser only; the invoices come back from DynamoDB', async () => {
  const { context, page, sub, items } = await withInvoices('wipe@ledgerline.test', 3);
  const before = fingerprint(items);
  const stats0 = await stack.proxy.stats();

  await nav(page, 'Data');
  await tid(page, 'clear-all').click();
  assert.match(await tid(page, 'clear-explain').textContent(), /this browser only/);
  await tid(page, 'clear-confirm').click();
  await until('the invoices back here', async () => Object.keys(await local(page)).length === 3, 30000);
  // and after a restart, still nothing deleted anywhere
  await page.reload();
  await ready(page);
  await status(page, 'connected');
  await until('the queue empty', async () => (await syncStore(page, 'queue')).length === 0);
  assert.deepEqual(fingerprint(await remote(sub)), before, 'DynamoDB unchanged: same invoices, versions, content');
  assert.deepEqual(await tombstones(sub), []);

  // a damaged entry removed while offline: back intact from DynamoDB once it answers
  const victim = items[0].id;
  await stack.proxy.set({ mode: 'drop' });
  await page.evaluate((id) => {
    const k = Object.keys(localStorage).find((k) => k.endsWith('/invoice/' + id));
    const v = JSON.parse(localStorage.getItem(k));
    v.notes = 'changed outside the app';
    localStorage.setItem(k, JSON.stringify(v));
  }, victim);
  await page.reload();
  await ready(page);
  await nav(page, 'Data');
  await tid(page, 'damaged-remove').click();
  assert.equal((await local(page))[victim], undefined);
  await stack.proxy.set({ mode: 'pass' });
  await page.reload();
  await ready(page);
  await until('the removed invoice back from DynamoDB', async () => (await local(page))[victim]?.checksum === items[0].checksum, 30000);
  assert.deepEqual(fingerprint(await remote(sub)), before);
  assert.deepEqual(await tombstones(sub), []);
  const stats1 = await stack.proxy.stats();
  assert.equal(delta(stats0, stats1, 'DeleteItem'), 0);
  assert.equal(delta(stats0, stats1, 'PutItem'), 0, 'nothing written to DynamoDB at all');
  await context.close();
});

test('problem 1 (I3): a second device closed in the middle of its first pull deletes nothing; the next start completes it', async () => {
  const { context, sub, items } = await withInvoices('midpull@ledgerline.test', 4);
  const before = fingerprint(items);
  const stats0 = await stack.proxy.stats();
  // device B: every DynamoDB answer takes a while, and B is closed as soon as the pull
  // has read the versions, before the items arrive
  const b = await signedIn('midpull@ledgerline.test', { create: false });
  await stack.proxy.set({ mode: 'pass', latencyMs: 1500 });
  const queries = (await stack.proxy.stats()).byTarget.Query || 0;
  await b.page.reload();
  await until('B\'s pull under way', async () => ((await stack.proxy.stats()).byTarget.Query || 0) > queries);
  await b.page.close();
  await stack.proxy.set({ mode: 'pass', latencyMs: 0 });
  const again = await b.context.newPage();
  await again.goto(stack.server.url);
  await ready(again);
  await until('every invoice on device B', async () => Object.keys(await local(again)).length === 4, 30000);
  await until('B\'s queue empty', async () => (await syncStore(again, 'queue')).length === 0);
  assert.deepEqual(fingerprint(await remote(sub)), before);
  assert.deepEqual(await tombstones(sub), []);
  const stats1 = await stack.proxy.stats();
  assert.equal(delta(stats0, stats1, 'PutItem'), 0, 'device B wrote nothing');
  await context.close();
  await b.context.close();
});

test('problem 1 (I3): signing out in the middle of a pull, and a new invoice that browser storage refused, delete nothing; both arrive later', async () => {
  const { context, page, sub, items } = await withInvoices('signout@ledgerline.test', 2);
  const stats0 = await stack.proxy.stats();
  // another device made a third invoice
  const extra = { ...items[0].content, number: 'INV-9001', notes: 'made on another device' };
  await putRemote(sub, 'made-elsewhere-0001', 1, extra);
  const before = fingerprint(await remote(sub));
  // device B signs out while its first pull is under way
  const b = await signedIn('signout@ledgerline.test', { create: false });
  await stack.proxy.set({ mode: 'pass', latencyMs: 1500 });
  const queries = (await stack.proxy.stats()).byTarget.Query || 0;
  await b.page.reload();
  await until('B\'s pull under way', async () => ((await stack.proxy.stats()).byTarget.Query || 0) > queries);
  await nav(b.page, 'Account');
  await tid(b.page, 'auth-signout').click();
  await stack.proxy.set({ mode: 'pass', latencyMs: 0 });
  await new Promise((r) => setTimeout(r, 4000));
  // device A: the new invoice arrives while this browser's storage is full
  await page.evaluate(() => {
    let size = 1 << 20, i = 0;
    while (size >= 16) {
      try { localStorage.setItem('other-app-' + i++, 'x'.repeat(size)); } catch { size = Math.floor(size / 2); }
    }
  });
  await page.reload();
  await ready(page);
  await page.waitForSelector('[data-testid="toast"]:has-text("Browser storage is full")', { timeout: 20000 });
  assert.equal((await local(page))['made-elsewhere-0001'], undefined);
  // room again: the next start brings it, nothing was deleted meanwhile
  await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('other-app-')).forEach((k) => localStorage.removeItem(k)));
  await page.reload();
  await ready(page);
  await until('the new invoice here', async () => (await local(page))['made-elsewhere-0001']?.notes === 'made on another device', 30000);
  // B signs in again and gets everything
  await nav(b.page, 'Account');
  await tid(b.page, 'auth-email').fill('signout@ledgerline.test');
  await tid(b.page, 'auth-password').fill('Ledgerline-test-1');
  await tid(b.page, 'auth-signin').click();
  await tid(b.page, 'account-email').waitFor();
  await until('every invoice on device B', async () => Object.keys(await local(b.page)).length === 3, 30000);
  assert.deepEqual(fingerprint(await remote(sub)), before, 'DynamoDB unchanged');
  assert.deepEqual(await tombstones(sub), []);
  const stats1 = await stack.proxy.stats();
  assert.equal(delta(stats0, stats1, 'PutItem'), 0, 'no device wrote anything');
  await context.close();
  await b.context.close();
});

test('problem 2 (I4): another table gets everything and removes nothing here; a table recreated empty is filled again', async () => {
  const { context, page, sub, items } = await withInvoices('tables@ledgerline.test', 2);
  const before = fingerprint(items);
  const other = 'ledgerline-other';
  const inOther = async () => {
    const r = await stack.db.send(new QueryCommand({ TableName: other, KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': { S: sub } } })).catch(() => ({ Items: [] }));
    return r.Items.filter((i) => !i.invoiceId.S.startsWith('#')).map((i) => [i.invoiceId.S, Number(i.version.N), i.checksum.S]).sort();
  };
  await nav(page, 'Settings');
  await tid(page, 'cloud-table').fill(other);
  await tid(page, 'cloud-config-save').click();
  await tid(page, 'cloud-config-message').filter({ hasText: 'saved' }).waitFor();
  await tid(page, 'cloud-test').click();
  await tid(page, 'create-table').click();
  await page.waitForSelector('[data-testid="cloud-result"][data-class="connected"]', { timeout: 60000 });
  await until('both invoices in the other table', async () => JSON.stringify(await inOther()) === JSON.stringify(before), 30000);
  assert.equal(Object.keys(await local(page)).length, 2, 'nothing removed here');
  assert.deepEqual(fingerprint(await remote(sub)), before, 'the first table untouched');

  // back to the first table, which is then recreated empty (an Academy lab reset)
  // while this browser cannot reach it
  await stack.proxy.set({ mode: 'drop' });
  await tid(page, 'cloud-table').fill(TABLE);
  await tid(page, 'cloud-config-save').click();
  await tid(page, 'cloud-config-message').filter({ hasText: 'saved' }).waitFor();
  await stack.db.send(new DeleteTableCommand({ TableName: TABLE }));
  await until('the table gone', async () => stack.db.send(new DescribeTableCommand({ TableName: TABLE })).then(() => false, () => true));
  await ensureTable(stack.dynamo.endpoint);
  assert.equal((await remote(sub)).length, 0);
  await stack.proxy.set({ mode: 'pass' });
  await page.reload();
  await ready(page);
  await page.waitForSelector('[data-testid="toast"]:has-text("missing in DynamoDB")', { timeout: 30000 });
  await until('both invoices uploaded again', async () => JSON.stringify(fingerprint(await remote(sub))) === JSON.stringify(before), 30000);
  assert.equal(Object.keys(await local(page)).length, 2);
  assert.deepEqual(await syncStore(page, 'conflicts'), []);
  await context.close();
});

test('problem 3: a stale editor never overwrites a newer version: the draft becomes a conflict, DynamoDB keeps the other tab\'s save', async () => {
  const { context, page, sub, items } = await withInvoices('stale@ledgerline.test', 1);
  const [inv] = items;
  await page.goto(stack.server.url + 'invoices/' + inv.id);
  await ready(page);
  await tid(page, 'inv-notes').fill('tab one draft');
  // meanwhile a second tab saves the same invoice
  const two = await context.newPage();
  await two.goto(stack.server.url);
  await ready(two);
  await editNotes(two, inv.id, 'tab two saved');
  await until('tab two\'s version in DynamoDB', async () => (await remote(sub))[0]?.content.notes === 'tab two saved');
  await tid(page, 'inv-save').click();
  await page.waitForSelector('[data-testid="toast"]:has-text("changed while you edited it")', { timeout: 20000 });
  const card = page.locator(`[data-testid="conflict"][data-id="${inv.id}"]`);
  await card.waitFor();
  const notes = card.locator('[data-testid="conflict-field"][data-field="Notes"]');
  assert.equal(await notes.locator('.mine').textContent(), 'tab one draft');
  assert.equal(await notes.locator('.theirs').textContent(), 'tab two saved');
  const after = await remote(sub);
  assert.equal(after.length, 1);
  assert.equal(after[0].content.notes, 'tab two saved');
  assert.equal(after[0].version, inv.version + 1);
  assert.equal((await local(page))[inv.id].notes, 'tab two saved');
  await context.close();
});

test('problem 4: a queued delete meeting a newer edit from another device: the invoice comes back, the delete is kept for review', async () => {
  const { context, page, sub, items } = await withInvoices('delconf@ledgerline.test', 1);
  const [inv] = items;
  await stack.proxy.set({ mode: 'drop' });
  await status(page, 'local');
  await deleteInvoice(page, inv.id);
  await until('the delete queued', async () => (await syncStore(page, 'queue')).some((q) => q.kind === 'delete'));
  await putRemote(sub, inv.id, inv.version + 1, { ...inv.content, notes: 'edited on another device' });
  await page.reload();
  await ready(page);
  await stack.proxy.set({ mode: 'pass' });
  await until('the invoice back here', async () => (await local(page))[inv.id]?.notes === 'edited on another device', 30000);
  const conflicts = await syncStore(page, 'conflicts');
  assert.equal(conflicts.length, 1);
  assert.equal(conflicts[0].local, null, 'the losing change was a delete');
  await until('the queue empty', async () => (await syncStore(page, 'queue')).length === 0);
  const after = await remote(sub);
  assert.equal(after.length, 1);
  assert.equal(after[0].version, inv.version + 1);
  assert.equal(after[0].content.notes, 'edited on another device');
  assert.deepEqual(await tombstones(sub), []);
  await tid(page, 'nav').getByRole('link', { name: 'Conflicts (1)' }).waitFor();
  await context.close();
});

test('problem 5: an older save arriving after a newer one (a slow hand-over from another tab) never replaces it in the queue', async () => {
  const { context, page, sub, items } = await withInvoices('order@ledgerline.test', 1);
  const [inv] = items;
  await stack.proxy.set({ mode: 'drop' });
  await status(page, 'local');
  await editNotes(page, inv.id, 'version 2, older');
  const [two] = await until('version 2 queued', async () => { const q = await syncStore(page, 'queue'); return q[0]?.kind.put?.version === 2 && q; });
  await editNotes(page, inv.id, 'version 3, newer');
  await until('version 3 queued', async () => (await syncStore(page, 'queue'))[0]?.kind.put?.version === 3);
  // version 2's hand-over, held up in another tab's worker, arrives now: a second
  // cloud worker (the app's own script) is handed exactly what that tab sent. The app's
  // Trusted Types policy lets only its own code start a worker, so the test starts it
  // from a same-origin tab whose CSP it bypasses (the app's storage is shared).
  const other = await context.newPage();
  await (await context.newCDPSession(other)).send('Page.setBypassCSP', { enabled: true });
  await other.goto(new URL('/manifest.json', stack.server.url).href);
  const reply = await other.evaluate(({ sub, two }) => new Promise((resolve) => {
    const config = JSON.parse(localStorage.getItem('ledgerline/v1/config'));
    const w = new Worker('/cloud-worker.js');
    w.onmessage = (e) => { resolve(JSON.parse(e.data)); w.terminate(); };
    w.postMessage(JSON.stringify({ id: 7, body: { enqueue: {
      target: config.target, user: sub, invoice_id: two.invoiceId, kind: two.kind, parent: two.parent,
    } } }));
  }), { sub, two });
  assert.ok(reply.body.queued, JSON.stringify(reply));
  await other.close();
  const queued = await syncStore(page, 'queue');
  assert.equal(queued.length, 1);
  assert.equal(queued[0].kind.put.version, 3, 'the newer version stays queued');
  assert.equal(queued[0].kind.put.notes, 'version 3, newer');
  assert.deepEqual(await syncStore(page, 'conflicts'), [], 'an older save of this same line is no conflict');
  await stack.proxy.set({ mode: 'pass' });
  await until('version 3 in DynamoDB', async () => (await remote(sub))[0]?.version === 3, 30000);
  const after = await remote(sub);
  assert.equal(after.length, 1);
  assert.equal(after[0].content.notes, 'version 3, newer');
  assert.equal((await local(page))[inv.id].version, 3);
  await context.close();
});

test('problem 6: an item a newer version wrote (fields this one does not know) is taken, edited here and sent back with those fields', async () => {
  const { context, page, sub, items } = await withInvoices('newer@ledgerline.test', 1);
  const [inv] = items;
  // a newer version's item: its fields after the known ones, in key order, sealed by it
  const [line, ...rest] = inv.content.lines;
  const newer = {
    ...inv.content,
    lines: [{ ...line, sku: 'A-1' }, ...rest],
    paymentLink: { provider: 'x', url: 'https://pay.example/1' },
    poNumber: 'PO-7',
  };
  await putRemote(sub, inv.id, inv.version + 1, newer);
  assert.equal((await remote(sub)).length, 1, 'before: one invoice in DynamoDB');
  await page.reload();
  await ready(page);
  await until('the newer version here', async () => (await local(page))[inv.id]?.version === inv.version + 1, 30000);
  const stored = await page.evaluate((id) => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith('/invoice/' + id)))), inv.id);
  assert.equal(stored.poNumber, 'PO-7', 'stored with the fields this version does not know');
  assert.deepEqual(stored.paymentLink, newer.paymentLink);
  assert.equal(stored.lines[0].sku, 'A-1');
  assert.equal(stored.checksum, checksumOf(newer), 'intact, not damaged');
  assert.equal(await tid(page, 'damaged-banner').count(), 0);
  assert.deepEqual(await syncStore(page, 'conflicts'), []);

  await editNotes(page, inv.id, 'edited by the older version');
  const [after] = await until('the edit in DynamoDB', async () => {
    const r = await remote(sub);
    return r.length === 1 && r[0].version === inv.version + 2 && r;
  });
  assert.equal(after.content.notes, 'edited by the older version');
  assert.equal(after.content.poNumber, 'PO-7', 'sent back with the unknown fields');
  assert.deepEqual(after.content.paymentLink, newer.paymentLink);
  assert.equal(after.content.lines[0].sku, 'A-1');
  assert.equal(checksumOf(after.content), after.checksum, 'sealed over all of it');
  assert.deepEqual(await syncStore(page, 'conflicts'), []);
  await context.close();
});

test('problem 6: items damaged in DynamoDB are kept as they were, on the conflicts screen, before this device\'s copies replace them', async () => {
  const { context, page, sub, items } = await withInvoices('damagedkeep@ledgerline.test', 2);
  const [a, b] = items;
  // b: changed here while offline; a: untouched here. Both damaged in DynamoDB meanwhile
  // (a newer version whose content does not match its checksum).
  await stack.proxy.set({ mode: 'drop' });
  await status(page, 'local');
  await editNotes(page, b.id, 'queued here');
  await putRemote(sub, a.id, a.version + 1, { ...a.content, notes: 'garbled A' }, { checksum: a.checksum });
  await putRemote(sub, b.id, b.version + 1, { ...b.content, notes: 'garbled B' }, { checksum: b.checksum });
  assert.equal((await remote(sub)).length, 2, 'before: two invoices in DynamoDB');
  await stack.proxy.set({ mode: 'pass' });
  await page.reload();
  await ready(page);
  // a: the pull finds the damage and this copy goes up as the next version. b: its
  // queued change goes up over the damaged item, either after the pull found it (as the
  // next version) or when its own write met it first (then under the version it was
  // queued with: the damaged one's number, which no device ever stored)
  const fixed = await until('this device\'s copies over the damaged ones', async () => {
    const r = await remote(sub);
    const ra = r.find((i) => i.id === a.id);
    const rb = r.find((i) => i.id === b.id);
    return r.length === 2 && ra?.version === a.version + 2 && rb?.content.notes === 'queued here'
      && [b.version + 1, b.version + 2].includes(rb.version) && { ra, rb };
  }, 30000);
  assert.equal(fixed.ra.content.notes, a.content.notes);
  assert.equal(fixed.rb.content.notes, 'queued here');
  for (const r of [fixed.ra, fixed.rb]) assert.equal(checksumOf(r.content), r.checksum, 'intact');
  assert.equal((await remote(sub)).length, 2, 'after: still two');

  // what DynamoDB held is kept, exactly, once each
  const kept = await syncStore(page, 'conflicts');
  assert.deepEqual(kept.map((c) => c.invoiceId).sort(), [a.id, b.id].sort());
  for (const [inv, notes] of [[a, 'garbled A'], [b, 'garbled B']]) {
    const c = kept.find((k) => k.invoiceId === inv.id);
    const raw = JSON.parse(c.damagedRemote);
    assert.equal(raw.invoiceId.S, inv.id);
    assert.equal(raw.version.N, String(inv.version + 1));
    assert.equal(JSON.parse(raw.content.S).notes, notes);
  }
  await tid(page, 'nav').getByRole('link', { name: 'Conflicts (2)' }).click();
  const card = page.locator(`[data-testid="conflict"][data-kind="damaged"][data-id="${a.id}"]`);
  assert.match(await card.getByTestId('conflict-damaged-raw').textContent(), /garbled A/);
  const [dl] = await Promise.all([page.waitForEvent('download'), card.getByTestId('conflict-download-raw').click()]);
  assert.equal(dl.suggestedFilename(), `ledgerline-damaged-${a.id}.json`);
  await card.getByTestId('conflict-dismiss').click();
  await tid(page, 'conflicts-note').filter({ hasText: 'Let go of the damaged DynamoDB copy' }).waitFor();
  await tid(page, 'nav').getByRole('link', { name: 'Conflicts (1)' }).waitFor();
  assert.equal((await syncStore(page, 'conflicts')).length, 1);
  await context.close();
});

test('problem 7: a clock 20 minutes off is measured from DynamoDB\'s refusal and corrected; sync goes on and the log says why', async () => {
  const { context, page, sub, items } = await withInvoices('clock@ledgerline.test', 1);
  for (const minutes of [20, -20]) {
    await stack.proxy.set({ mode: 'pass', clockOffsetMs: minutes * 60000 });
    const refusedBefore = (await stack.proxy.stats()).refused?.InvalidSignatureException || 0;
    await explain(page, () => quickInvoice(page, `With the clock ${minutes} min off`));
    await until(`the invoice made with the clock ${minutes} min off in DynamoDB`,
      async () => (await remote(sub)).some((i) => i.content.lines[0].description === `With the clock ${minutes} min off`), 30000);
    const refused = (await stack.proxy.stats()).refused?.InvalidSignatureException || 0;
    assert.ok(refused > refusedBefore, 'DynamoDB (the proxy) did refuse the skewed signature first');
    await status(page, 'connected');
  }
  assert.equal((await remote(sub)).length, items.length + 2);
  await nav(page, 'Data');
  await tid(page, 'log-show').click();
  const skew = tid(page, 'log-row').filter({ hasText: /clock wrong: Signature (expired|not yet current)/ });
  await skew.first().waitFor({ timeout: 10000 });
  assert.ok(await skew.count() >= 1, 'the log names the clock, with DynamoDB\'s message');
  assert.equal(await tid(page, 'log-table').filter({ hasText: 'credentials invalid' }).count(), 0);
  await stack.proxy.set({ mode: 'pass', clockOffsetMs: 0 });
  await context.close();
});

test('problem 8: the browser closed in the middle of an upload: everything arrives once, and no false conflicts', async () => {
  const { context, page, sub, items } = await withInvoices('closed@ledgerline.test', 1);
  await nav(page, 'Data');
  const exported = JSON.parse((await download(page, 'export-json')).text);
  await stack.proxy.set({ mode: 'drop' });
  await status(page, 'local');
  await importBundle(page, bundleOf(exported, 150, 'C'), 'closed');
  await until('150 changes queued', async () => (await syncStore(page, 'queue')).length === 150);
  await stack.proxy.set({ mode: 'pass', latencyMs: 40 });
  await until('an upload under way', async () => (await remote(sub)).length >= 40, 60000);
  await page.close();
  await stack.proxy.set({ mode: 'pass', latencyMs: 0 });
  const again = await context.newPage();
  await again.goto(stack.server.url);
  await ready(again);
  await until('all 151 in DynamoDB', async () => (await remote(sub)).length === 151, 60000);
  await until('the queue empty', async () => (await syncStore(again, 'queue')).length === 0, 30000);
  await status(again, 'connected');
  assert.deepEqual(await syncStore(again, 'conflicts'), [], 'a write whose answer was lost is not a conflict');
  assert.equal(await tid(again, 'nav').getByRole('link', { name: /Conflicts/ }).count(), 0);
  const versions = new Set((await remote(sub)).map((i) => i.version));
  assert.deepEqual([...versions], [1], 'each written once, as version 1');
  assert.ok(items.length === 1);
  await context.close();
});

test('problem 9: "connected" only once nothing waits: after a restart with changes queued the status says pending first', async () => {
  const { context, page, sub } = await withInvoices('status@ledgerline.test', 1);
  await stack.proxy.set({ mode: 'drop' });
  await status(page, 'local');
  for (let i = 0; i < 12; i++) await explain(page, () => quickInvoice(page, `Queued ${i}`));
  await until('12 queued', async () => (await syncStore(page, 'queue')).length === 12);
  // every state the status shows from the next start on, with the time
  await page.addInitScript(() => {
    window.__states = [];
    new MutationObserver(() => {
      const s = document.querySelector('[data-testid="storage-status"]')?.getAttribute('data-state');
      if (s && window.__states[window.__states.length - 1] !== s) window.__states.push(s);
    }).observe(document, { subtree: true, childList: true, attributes: true });
  });
  await stack.proxy.set({ mode: 'pass', latencyMs: 150 });
  await page.reload();
  await ready(page);
  await status(page, 'connected', 60000);
  const remoteAtConnected = (await remote(sub)).length;
  const queueAtConnected = (await syncStore(page, 'queue')).length;
  const states = await page.evaluate(() => window.__states);
  assert.ok(states.includes('hybrid'), `states: ${states}`);
  assert.ok(states.indexOf('connected') > states.lastIndexOf('hybrid'), `connected before the queue drained: ${states}`);
  assert.equal(queueAtConnected, 0);
  assert.equal(remoteAtConnected, 13);
  await stack.proxy.set({ mode: 'pass', latencyMs: 0 });
  await context.close();
});
