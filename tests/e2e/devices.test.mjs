// Two devices, one business (issue 9), end to end against dynalite behind the
// signature-checking fault proxy. Every test counts invoices in DynamoDB with an
// independent client (the AWS SDK for JavaScript) before and after.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { ready, tid, nav, addClient } from './helpers.mjs';
import { startCloudStack, kit } from './cloud-stack.mjs';

let stack;
before(async () => {
  stack = await startCloudStack('devices');
});
after(async () => {
  await stack?.stop();
});
beforeEach(async () => {
  await stack?.reset();
});
const { signedIn, status, remote, rawItems, putRemote, until, quickInvoice, editNotes, syncStore } = kit(() => stack);

const conflictsLink = (page) => tid(page, 'nav').getByRole('link', { name: /^Conflicts/ });

test('conflicts are counted from IndexedDB: at start-up with DynamoDB unreachable, and in every tab as they change', async () => {
  const { context, page, sub } = await signedIn('counts@ledgerline.test');
  await status(page, 'connected');
  await addClient(page, 'Counts Client');
  await quickInvoice(page, 'Edited on both sides');
  const [inv] = await until('the invoice in DynamoDB', async () => { const r = await remote(sub); return r.length === 1 && r; });
  const other = await context.newPage();
  await other.goto(stack.server.url);
  await ready(other);
  assert.equal(await conflictsLink(other).count(), 0);

  // a conflict, made in the first tab: the second is told, without a reload
  await stack.proxy.set({ mode: 'drop' });
  await status(page, 'local');
  await editNotes(page, inv.id, 'my offline edit');
  await putRemote(sub, inv.id, inv.version + 1, { ...inv.content, notes: 'their edit' });
  await stack.proxy.set({ mode: 'pass' });
  await conflictsLink(page).filter({ hasText: 'Conflicts (1)' }).waitFor({ timeout: 30000 });
  await conflictsLink(other).filter({ hasText: 'Conflicts (1)' }).waitFor({ timeout: 10000 });
  assert.equal((await syncStore(page, 'conflicts')).length, 1);

  // DynamoDB unreachable: a reload still shows the count, from IndexedDB
  await stack.proxy.set({ mode: 'drop' });
  await page.reload();
  await ready(page);
  await conflictsLink(page).filter({ hasText: 'Conflicts (1)' }).waitFor({ timeout: 10000 });
  assert.notEqual(await tid(page, 'storage-status').getAttribute('data-state'), 'connected');

  // decided in one tab: gone from the other's navigation too
  await conflictsLink(page).click();
  await tid(page, 'conflict-keep-remote').click();
  await tid(page, 'conflicts-empty').waitFor();
  await until('the other tab to drop the count', async () => (await conflictsLink(other).count()) === 0, 10000);
  await stack.proxy.set({ mode: 'pass' });
  const after = await remote(sub);
  assert.equal(after.length, 1, 'still one invoice in DynamoDB');
  assert.equal(after[0].version, inv.version + 1);
  assert.equal(after[0].content.notes, 'their edit', 'DynamoDB\'s version kept');
  await context.close();
});

/** The invoices in this page's localStorage: [{id, number, status, version}]. */
const localInvoices = (page) => page.evaluate(() => Object.keys(localStorage)
  .filter((k) => k.includes('/invoice/'))
  .map((k) => JSON.parse(localStorage.getItem(k)))
  .map((i) => ({ id: i.id, number: i.number, status: i.status, version: i.version })));

test('invoice numbers: two devices offline never give out the same number; a device with none left waits with a provisional draft', async () => {
  const email = 'numbers@ledgerline.test';
  const a = await signedIn(email);
  await status(a.page, 'connected');
  await addClient(a.page, 'Numbers A');
  await quickInvoice(a.page, 'A online');
  await until('A\'s invoice in DynamoDB', async () => (await remote(a.sub)).length === 1);
  const b = await signedIn(email, { create: false });
  await status(b.page, 'connected');
  await addClient(b.page, 'Numbers B');
  const counter = async () => Number((await rawItems(a.sub)).find((i) => i.invoiceId.S === '#counter')?.next?.N);
  assert.equal(await counter(), 51, 'two blocks of 25 leased, one per device');
  assert.equal((await remote(a.sub)).length, 1, 'before: one invoice in DynamoDB');

  // both offline, both issuing
  await stack.proxy.set({ mode: 'drop' });
  await status(a.page, 'local');
  await status(b.page, 'local');
  for (let i = 0; i < 3; i++) {
    await quickInvoice(a.page, `A offline ${i}`);
    await quickInvoice(b.page, `B offline ${i}`);
  }
  // B has used up its numbers (as after a long offline stretch): the next one waits
  await b.page.evaluate(() => Object.keys(localStorage).filter((k) => k.endsWith('/numbers')).forEach((k) => localStorage.setItem(k, '{}')));
  await quickInvoice(b.page, 'B without numbers');
  const waiting = (await localInvoices(b.page)).find((i) => i.number.startsWith('DRAFT-'));
  assert.ok(waiting, 'a provisional number');
  await tid(b.page, 'numbers-waiting').waitFor();
  // it may not be issued under a provisional number
  await b.page.goto(stack.server.url + 'invoices/' + waiting.id);
  await ready(b.page);
  await tid(b.page, 'inv-status').selectOption('sent');
  await tid(b.page, 'inv-save').click();
  assert.match(await tid(b.page, 'form-errors').textContent(), /not an invoice number yet.*Keep it as a draft/);

  // back online: everything arrives, numbered, every number once
  await stack.proxy.set({ mode: 'pass' });
  const items = await until('8 numbered invoices in DynamoDB', async () => {
    const r = await remote(a.sub);
    return r.length === 8 && r.every((i) => !i.content.number.startsWith('DRAFT-')) && r;
  }, 60000);
  const numbers = items.map((i) => i.content.number).sort();
  assert.equal(new Set(numbers).size, 8, `unique: ${numbers}`);
  assert.deepEqual(numbers, ['INV-0001', 'INV-0002', 'INV-0003', 'INV-0004', 'INV-0026', 'INV-0027', 'INV-0028', 'INV-0051']);
  const renumbered = items.find((i) => i.id === waiting.id);
  assert.equal(renumbered.content.number, 'INV-0051', 'from B\'s next block');
  assert.equal(renumbered.content.status, 'draft');
  assert.equal(await counter(), 76);
  await tid(b.page, 'numbers-waiting').waitFor({ state: 'detached' });
  await a.context.close();
  await b.context.close();
});

test('invoice numbers: two devices reading the counter at the same moment get different blocks (the write is conditional; the loser reads again)', async () => {
  const email = 'race@ledgerline.test';
  const a = await signedIn(email);
  await status(a.page, 'connected');
  const counter = async () => Number((await rawItems(a.sub)).find((i) => i.invoiceId.S === '#counter')?.next?.N);
  await until('A\'s block leased', async () => (await counter()) === 26);
  await stack.proxy.resetStats();
  // B and C read the counter together: both see 26, both try to write 51
  await stack.proxy.set({ barrier: { op: 'GetItem#counter', count: 2 } });
  const [b, c] = await Promise.all([signedIn(email, { create: false }), signedIn(email, { create: false })]);
  await until('both reads held and sent together', async () => (await stack.proxy.stats()).barrier);
  assert.deepEqual((await stack.proxy.stats()).barrier, { op: 'GetItem#counter', held: 2, timedOut: false });
  await until('three blocks leased', async () => (await counter()) === 76);
  const ops = (await stack.proxy.stats()).byTarget;
  assert.ok(ops['PutItem#counter'] >= 3, `one write refused and made again: ${JSON.stringify(ops)}`);
  assert.ok(ops['GetItem#counter'] >= 3, `the loser read again: ${JSON.stringify(ops)}`);
  // each device gives out its own block
  for (const [d, name] of [[b, 'B'], [c, 'C']]) {
    await status(d.page, 'connected');
    await addClient(d.page, `Race ${name}`);
    await quickInvoice(d.page, `${name} races`);
  }
  const items = await until('two invoices in DynamoDB', async () => { const r = await remote(a.sub); return r.length === 2 && r; });
  const numbers = items.map((i) => i.content.number).sort();
  assert.deepEqual(numbers, ['INV-0026', 'INV-0051'], 'one number from each of the two new blocks');
  for (const d of [a, b, c]) await d.context.close();
});

test('a client made on A arrives on B with A\'s invoice (its details travel with the invoice); B edits and saves that invoice as it is', async () => {
  const email = 'billto@ledgerline.test';
  const a = await signedIn(email);
  await status(a.page, 'connected');
  await addClient(a.page, 'Acme From A', { address: '1 Main Street' });
  await quickInvoice(a.page, 'For Acme');
  const [inv] = await until('A\'s invoice in DynamoDB', async () => { const r = await remote(a.sub); return r.length === 1 && r; });
  assert.equal(inv.content.billTo.name, 'Acme From A', 'the client\'s details are on the invoice');
  assert.equal(inv.content.billTo.address, '1 Main Street');

  const b = await signedIn(email, { create: false });
  await status(b.page, 'connected');
  const clientsOnB = () => b.page.evaluate(() => Object.keys(localStorage)
    .filter((k) => k.includes('/client/'))
    .map((k) => JSON.parse(localStorage.getItem(k))));
  const [made] = await until('the client on B', async () => { const c = await clientsOnB(); return c.length === 1 && c; });
  assert.deepEqual([made.id, made.name, made.address], [inv.content.clientId, 'Acme From A', '1 Main Street']);

  await editNotes(b.page, inv.id, 'edited on B');
  const [after] = await until('B\'s edit in DynamoDB', async () => {
    const r = await remote(a.sub);
    return r.length === 1 && r[0].version === inv.version + 1 && r;
  });
  assert.equal(after.content.notes, 'edited on B');
  assert.equal(after.content.clientId, inv.content.clientId);
  assert.equal(after.content.billTo.name, 'Acme From A');
  await a.context.close();
  await b.context.close();
});

/** The client and profile records of `sub` in DynamoDB, read independently: key -> item. */
async function records(sub) {
  const items = (await rawItems(sub)).filter((i) => i.invoiceId.S.startsWith('#client#') || i.invoiceId.S === '#profile');
  return Object.fromEntries(items.map((i) => [i.invoiceId.S, {
    version: Number(i.version.N), deleted: !!i.deleted?.BOOL, content: i.content ? JSON.parse(i.content.S) : null,
  }]));
}
/** Clients → edit the client named `name` → its address → save. */
async function editClientAddress(page, name, address) {
  await nav(page, 'Clients');
  await tid(page, 'client-row').filter({ hasText: name }).getByTestId('client-edit').click();
  await tid(page, 'client-address').fill(address);
  await tid(page, 'client-save').click();
}
const clientsOf = (page) => page.evaluate(() => Object.keys(localStorage)
  .filter((k) => k.includes('/client/'))
  .map((k) => JSON.parse(localStorage.getItem(k))));

test('a client or profile saved here goes to DynamoDB a moment later, not at the next connection check', async () => {
  // checks an hour apart: only the push after a save can bring these up within the test
  const a = await signedIn('soon@ledgerline.test', { interval: '3600' });
  await status(a.page, 'connected');
  const sent = async () => {
    const r = await records(a.sub);
    const hooli = Object.values(r).find((x) => x.content?.name === 'Hooli');
    return { hooli, profile: r['#profile'] };
  };
  await addClient(a.page, 'Hooli', { address: 'Page Mill 1' });
  const hooli = await until('the new client in DynamoDB', async () => (await sent()).hooli, 20000);
  assert.equal(hooli.version, 1);
  assert.equal(hooli.content.address, 'Page Mill 1');
  // an edit and the profile
  await editClientAddress(a.page, 'Hooli', 'Page Mill 2');
  await nav(a.page, 'Settings');
  await tid(a.page, 'profile-name').fill('Soon Ltd');
  await tid(a.page, 'profile-save').click();
  await tid(a.page, 'profile-message').filter({ hasText: 'Settings saved' }).waitFor();
  const after = await until('both in DynamoDB', async () => {
    const s = await sent();
    return s.hooli?.content.address === 'Page Mill 2' && s.profile?.content?.profile?.name === 'Soon Ltd' && s;
  }, 20000);
  assert.equal(after.hooli.version, 2);
  // and a delete: its tombstone goes up just as soon
  await nav(a.page, 'Clients');
  await tid(a.page, 'client-row').filter({ hasText: 'Hooli' }).getByTestId('client-delete').click();
  await tid(a.page, 'client-row').filter({ hasText: 'Hooli' }).waitFor({ state: 'detached' });
  await until('the tombstone in DynamoDB', async () => {
    const r = (await records(a.sub))['#client#' + after.hooli.content.id];
    return r?.deleted && r.version === 3;
  }, 20000);
  assert.equal((await remote(a.sub)).length, 0, 'no invoice was made');
  await a.context.close();
});

test('clients and the business profile travel between devices; a client deleted on A while B issues an invoice for it loses nothing', async () => {
  const email = 'records@ledgerline.test';
  const a = await signedIn(email);
  await status(a.page, 'connected');
  await addClient(a.page, 'Globex', { address: 'Old Street 1' });
  await addClient(a.page, 'Initech');
  const globex = (await clientsOf(a.page)).find((c) => c.name === 'Globex');
  const initech = (await clientsOf(a.page)).find((c) => c.name === 'Initech');
  await until('both clients in DynamoDB', async () => Object.keys(await records(a.sub)).filter((k) => k.startsWith('#client#')).length === 2);
  assert.equal((await remote(a.sub)).length, 0, 'no invoices yet');

  // B: the clients arrive without any invoice
  const b = await signedIn(email, { create: false });
  await status(b.page, 'connected');
  await until('A\'s clients on B', async () => (await clientsOf(b.page)).length === 2);
  // B edits Globex and the business profile
  await editClientAddress(b.page, 'Globex', 'New Street 2');
  await nav(b.page, 'Settings');
  await tid(b.page, 'profile-name').fill('Two Laptops Ltd');
  // the settings that describe the business travel with it
  await tid(b.page, 'profile-currency').fill('CHF');
  await tid(b.page, 'profile-terms').fill('45');
  await tid(b.page, 'profile-notes').fill('Thank you, from both laptops');
  await tid(b.page, 'profile-prefix').fill('TL-');
  await tid(b.page, 'profile-save').click();
  await tid(b.page, 'profile-message').filter({ hasText: 'saved' }).waitFor();
  await until('B\'s edits in DynamoDB', async () => {
    const r = await records(a.sub);
    return r['#client#' + globex.id]?.content?.address === 'New Street 2' && r['#profile']?.content?.profile?.name === 'Two Laptops Ltd';
  });
  // ... and on A, without a reload
  await until('B\'s edits on A', async () => {
    const c = (await clientsOf(a.page)).find((x) => x.id === globex.id);
    const p = await a.page.evaluate(() => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith('/profile'))) || '{}'));
    return c?.address === 'New Street 2' && p.name === 'Two Laptops Ltd';
  });
  await nav(a.page, 'Settings');
  assert.deepEqual(
    await Promise.all(['profile-name', 'profile-currency', 'profile-terms', 'profile-notes', 'profile-prefix'].map((t) => tid(a.page, t).inputValue())),
    ['Two Laptops Ltd', 'CHF', '45', 'Thank you, from both laptops', 'TL-'],
    'the profile and the business settings arrive on A as B saved them',
  );

  // A deletes Initech while B, offline, issues an invoice for it
  await stack.proxy.set({ mode: 'drop' });
  await status(b.page, 'local');
  await b.page.goto(stack.server.url + 'invoices/new');
  await ready(b.page);
  await tid(b.page, 'inv-client').selectOption({ label: 'Initech' });
  await tid(b.page, 'line').first().locator('input.line-desc').fill('For Initech');
  await tid(b.page, 'line').first().locator('input.line-price').fill('10');
  await tid(b.page, 'inv-save').click();
  await tid(b.page, 'invoice-table').waitFor();
  // A deletes it while DynamoDB is still unreachable: were B's invoice on A already, the
  // delete would be refused (an invoice names the client) and nothing would be tested
  await nav(a.page, 'Clients');
  await tid(a.page, 'client-row').filter({ hasText: 'Initech' }).getByTestId('client-delete').click();
  await tid(a.page, 'client-row').filter({ hasText: 'Initech' }).waitFor({ state: 'detached' });
  // A is told the client is back (watched from before DynamoDB is back: a toast goes):
  // made from B's invoice when that arrives first, or DynamoDB's record when B, seeing
  // A's delete with its invoice naming the client, put the client back before A pulled
  const told = tid(a.page, 'toast')
    .filter({ hasText: /from the client details on your invoices: Initech|From another device: .*client Initech added/ })
    .waitFor({ timeout: 90000 });
  await stack.proxy.set({ mode: 'pass' });
  const [inv] = await until('B\'s invoice in DynamoDB', async () => { const r = await remote(a.sub); return r.length === 1 && r; }, 60000);
  assert.equal(inv.content.billTo.name, 'Initech', 'the invoice carries the client\'s details');
  // nothing is lost: the invoice names its client on both devices (made again from the
  // invoice where the delete had removed it), and DynamoDB has the client again
  await until('Initech on both devices and in DynamoDB', async () => {
    const r = await records(a.sub);
    const onA = (await clientsOf(a.page)).some((c) => c.id === initech.id);
    const onB = (await clientsOf(b.page)).some((c) => c.id === initech.id);
    return onA && onB && r['#client#' + initech.id] && !r['#client#' + initech.id].deleted;
  }, 60000);
  // either the delete reached DynamoDB first (a tombstone, then the client back from the
  // device whose invoice names it) or A saw B's invoice first (the delete then no longer
  // stands: an invoice needs the client); both end with the client live everywhere
  const initechNow = (await records(a.sub))['#client#' + initech.id];
  assert.equal(initechNow.content.name, 'Initech');
  assert.equal((await remote(a.sub)).length, 1, 'after: one invoice in DynamoDB');
  await told;
  await a.context.close();
  await b.context.close();
});

test('numbers used twice (from before numbers were leased) are shown after a sync, and one click gives the drafts new numbers', async () => {
  const a = await signedIn('dupes@ledgerline.test');
  await status(a.page, 'connected');
  await addClient(a.page, 'Dupes Client');
  await quickInvoice(a.page, 'Issued here');
  const [mine] = await until('the invoice in DynamoDB', async () => { const r = await remote(a.sub); return r.length === 1 && r; });
  // another device, before this version, gave a draft the same number
  const other = { ...mine.content, notes: 'a draft from another device', lines: [{ ...mine.content.lines[0], description: 'Same number' }] };
  await putRemote(a.sub, '0dupe000-0000-4000-8000-000000000001', 1, other);
  assert.equal((await remote(a.sub)).length, 2, 'before: two invoices in DynamoDB');
  await a.page.reload();
  await ready(a.page);
  const banner = tid(a.page, 'numbers-duplicate');
  await banner.waitFor({ timeout: 30000 });
  assert.match(await banner.textContent(), new RegExp(`${mine.content.number} \\(2 invoices\\)`));
  // which one keeps it: the earlier saved (both are drafts); the other is renumbered
  await tid(a.page, 'numbers-renumber').click();
  await banner.waitFor({ state: 'detached' });
  const after = await until('both in DynamoDB with their own numbers', async () => {
    const r = await remote(a.sub);
    return r.length === 2 && new Set(r.map((i) => i.content.number)).size === 2 && r;
  });
  const kept = after.filter((i) => i.content.number === mine.content.number);
  assert.equal(kept.length, 1, 'one keeps the number');
  const moved = after.find((i) => i.content.number !== mine.content.number);
  assert.match(moved.content.number, /^INV-\d{4}$/, 'a leased number, not a provisional one');
  assert.equal(moved.version, 2, 'renumbered as a new version');
  await a.context.close();
});

test('a client edited on two devices at once: DynamoDB keeps one, the other is on the Conflicts screen with a field diff, and "Restore mine" sends it', async () => {
  const email = 'clientconflict@ledgerline.test';
  const a = await signedIn(email);
  await status(a.page, 'connected');
  await addClient(a.page, 'Hooli', { address: 'First address' });
  const hooli = (await clientsOf(a.page))[0];
  const key = '#client#' + hooli.id;
  await until('Hooli in DynamoDB', async () => (await records(a.sub))[key]);
  const b = await signedIn(email, { create: false });
  await status(b.page, 'connected');
  await until('Hooli on B', async () => (await clientsOf(b.page)).length === 1);

  await stack.proxy.set({ mode: 'drop' });
  await status(a.page, 'local');
  await status(b.page, 'local');
  for (const [page, text] of [[a.page, 'Edited on A'], [b.page, 'Edited on B']]) {
    await editClientAddress(page, 'Hooli', text);
    await tid(page, 'client-row').filter({ hasText: 'Hooli' }).waitFor();
  }
  await stack.proxy.set({ mode: 'pass' });
  // whichever device wrote first won; the other keeps its edit for review
  const loser = await until('one device with the conflict', async () => {
    for (const [page, text] of [[a.page, 'Edited on B'], [b.page, 'Edited on A']]) {
      if ((await conflictsLink(page).count()) && (await records(a.sub))[key]?.content?.address === text) return { page, mine: text === 'Edited on A' ? 'Edited on B' : 'Edited on A', theirs: text };
    }
    return false;
  }, 60000);
  const won = (await records(a.sub))[key];
  assert.equal(won.version, 2);
  assert.equal(((await clientsOf(loser.page))[0]).address, loser.theirs, 'DynamoDB\'s version is the one used now');
  await conflictsLink(loser.page).click();
  const card = loser.page.locator(`[data-testid="conflict"][data-kind="record"][data-id="${key}"]`);
  const row = card.locator('[data-testid="conflict-field"][data-field="address"]');
  assert.equal(await row.locator('.mine').textContent(), loser.mine);
  assert.equal(await row.locator('.theirs').textContent(), loser.theirs);
  await card.getByTestId('conflict-restore-mine').click();
  await tid(loser.page, 'conflicts-note').filter({ hasText: 'Restored your version of Client Hooli' }).waitFor();
  const after = await until('the restored edit in DynamoDB', async () => {
    const r = (await records(a.sub))[key];
    return r?.content?.address === loser.mine && r;
  });
  assert.equal(after.version, 3, 'a new version on top of the one that won');
  assert.equal(Object.keys(await records(a.sub)).filter((k) => k.startsWith('#client#')).length, 1, 'still one client');
  await a.context.close();
  await b.context.close();
});

test('"Delete all local data" with client changes DynamoDB lacks: an unsent edit and a new client are kept under Conflicts and reach DynamoDB once restored (offline or not); an unsent delete still goes', async () => {
  const email = 'wiperecords@ledgerline.test';
  const a = await signedIn(email);
  await status(a.page, 'connected');
  await addClient(a.page, 'Wayne', { address: 'Synced address' });
  await addClient(a.page, 'Stark');
  const here = await clientsOf(a.page);
  const wayne = '#client#' + here.find((c) => c.name === 'Wayne').id;
  const stark = '#client#' + here.find((c) => c.name === 'Stark').id;
  await until('both clients in DynamoDB', async () => { const r = await records(a.sub); return r[wayne] && r[stark]; });
  const before = await records(a.sub);
  assert.deepEqual([before[wayne].version, before[stark].version], [1, 1]);

  // offline: Wayne edited, Stark deleted, Fresh Co new; then all local data deleted
  await stack.proxy.set({ mode: 'drop' });
  await status(a.page, 'local');
  await editClientAddress(a.page, 'Wayne', 'Unsent address');
  await tid(a.page, 'client-row').filter({ hasText: 'Stark' }).getByTestId('client-delete').click();
  await tid(a.page, 'client-row').filter({ hasText: 'Stark' }).waitFor({ state: 'detached' });
  await addClient(a.page, 'Fresh Co');
  await nav(a.page, 'Data');
  await tid(a.page, 'clear-all').click();
  assert.match(await tid(a.page, 'clear-explain').textContent(), /kept under Conflicts/);
  await tid(a.page, 'clear-confirm').click();
  await tid(a.page, 'toast').filter({ hasText: '2 client or profile changes not yet in DynamoDB are kept under Conflicts' }).waitFor();
  assert.deepEqual(await clientsOf(a.page), [], 'the clients are gone from this browser');
  await conflictsLink(a.page).filter({ hasText: 'Conflicts (2)' }).waitFor();
  assert.deepEqual(await records(a.sub), before, 'DynamoDB untouched while unreachable');

  // still offline, Wayne's edit is restored: it goes on top of the version it was based on
  await conflictsLink(a.page).click();
  const cards = a.page.locator('[data-testid="conflict"][data-kind="record"]');
  await cards.nth(1).waitFor(); // the conflicts page reads its store after it renders
  assert.equal(await cards.count(), 2);
  const wayneCard = a.page.locator(`[data-testid="conflict"][data-kind="record"][data-id="${wayne}"]`);
  assert.match(await wayneCard.textContent(), /Not in DynamoDB yet when all local data/);
  const row = wayneCard.locator('[data-testid="conflict-field"][data-field="address"]');
  assert.equal(await row.locator('.mine').textContent(), 'Unsent address');
  await wayneCard.getByTestId('conflict-restore-mine').click();
  await tid(a.page, 'conflicts-note').filter({ hasText: 'Restored your version of Client Wayne' }).waitFor();

  // back online: Wayne's edit and Stark's delete reach DynamoDB (no new conflict)
  await stack.proxy.set({ mode: 'pass' });
  await until('Stark deleted and Wayne edited in DynamoDB', async () => {
    const r = await records(a.sub);
    return r[stark]?.deleted && r[wayne]?.content?.address === 'Unsent address';
  }, 60000);
  assert.deepEqual((await clientsOf(a.page)).map((c) => c.address), ['Unsent address']);
  // Fresh Co, restored online, goes up too
  await cards.filter({ hasText: 'Fresh Co' }).getByTestId('conflict-restore-mine').click();
  await tid(a.page, 'conflicts-note').filter({ hasText: 'Restored your version of Client Fresh Co' }).waitFor();
  const after = await until('Fresh Co in DynamoDB', async () => {
    const r = await records(a.sub);
    const fresh = Object.entries(r).find(([, v]) => v.content?.name === 'Fresh Co');
    return fresh && r;
  }, 60000);
  assert.equal(after[wayne].version, 2, 'on top of the version that was synced');
  assert.equal(after[stark].version, 2, 'a tombstone after version 1');
  assert.equal(Object.values(after).filter((v) => !v.deleted && v.content?.name).length, 2, 'after: Wayne and Fresh Co live, Stark deleted');
  await tid(a.page, 'conflicts-empty').waitFor();
  await a.context.close();
});

test('while both are open, an invoice saved on A shows on B within a check interval, without a reload; a quiet check reads one small item, never the whole partition', async () => {
  const email = 'live@ledgerline.test';
  const a = await signedIn(email);
  await status(a.page, 'connected');
  await addClient(a.page, 'Live Client');
  await quickInvoice(a.page, 'First from A');
  await until('A\'s first invoice in DynamoDB', async () => (await remote(a.sub)).length === 1);
  const b = await signedIn(email, { create: false });
  await status(b.page, 'connected');
  await until('the first invoice on B', async () => (await localInvoices(b.page)).length === 1);

  // quiet: checks every 2 s on both, and no pull (no versions Query) on either
  await new Promise((r) => setTimeout(r, 1500));
  const quiet0 = await stack.proxy.stats();
  await new Promise((r) => setTimeout(r, 6000));
  const quiet1 = await stack.proxy.stats();
  const d = (op) => (quiet1.byTarget[op] || 0) - (quiet0.byTarget[op] || 0);
  assert.ok(d('DescribeTable') >= 4, `${d('DescribeTable')} checks`);
  assert.equal(d('Query'), 0, 'no pull while nothing changed');
  assert.ok(d('GetItem#changes') >= 4, `${d('GetItem#changes')} reads of the change marker`);
  assert.equal(d('GetItem'), 0);

  // A saves a second invoice and edits the first: B shows both within a few checks
  await quickInvoice(a.page, 'Second from A');
  const [first] = (await remote(a.sub)).filter((i) => i.content.lines[0].description === 'First from A');
  await editNotes(a.page, first.id, 'First, edited on A');
  const items = await until('A\'s changes in DynamoDB', async () => {
    const r = await remote(a.sub);
    return r.length === 2 && r.some((i) => i.content.notes === 'First, edited on A') && r;
  });
  await until('A\'s changes on B, without a reload', async () => {
    const here = await b.page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('/invoice/'))
      .map((k) => JSON.parse(localStorage.getItem(k))));
    return here.length === 2 && items.every((i) => here.some((h) => h.id === i.id && h.version === i.version && h.notes === i.content.notes));
  }, 20000);
  await nav(b.page, 'Invoices');
  await tid(b.page, 'invoice-row').filter({ hasText: items.find((i) => i.content.lines[0].description === 'Second from A').content.number }).waitFor();
  assert.equal((await remote(a.sub)).length, 2, 'after: two invoices in DynamoDB');
  await a.context.close();
  await b.context.close();
});

test('an editor open on B while A\'s edit of the same invoice arrives live: the draft stays in the form, and saving it keeps it under Conflicts; DynamoDB keeps A\'s', async () => {
  const email = 'liveeditor@ledgerline.test';
  const a = await signedIn(email);
  await status(a.page, 'connected');
  await addClient(a.page, 'Editor Client');
  await quickInvoice(a.page, 'Shared');
  const [inv] = await until('the invoice in DynamoDB', async () => { const r = await remote(a.sub); return r.length === 1 && r; });
  const b = await signedIn(email, { create: false });
  await status(b.page, 'connected');
  await until('the invoice on B', async () => (await localInvoices(b.page)).length === 1);
  await b.page.goto(stack.server.url + 'invoices/' + inv.id);
  await ready(b.page);
  await tid(b.page, 'inv-notes').fill('B draft, not saved yet');

  await editNotes(a.page, inv.id, 'A edit');
  await until('A\'s edit on B, live', async () => (await localInvoices(b.page)).some((i) => i.version === inv.version + 1), 20000);
  assert.equal(await tid(b.page, 'inv-notes').inputValue(), 'B draft, not saved yet', 'the open draft is untouched');
  await tid(b.page, 'inv-save').click();
  await tid(b.page, 'toast').filter({ hasText: 'changed while you edited it' }).waitFor();
  const kept = await syncStore(b.page, 'conflicts');
  assert.equal(kept.length, 1);
  assert.equal(kept[0].local.notes, 'B draft, not saved yet');
  await new Promise((r) => setTimeout(r, 3000));
  const after = await remote(a.sub);
  assert.equal(after.length, 1, 'after: still one invoice in DynamoDB');
  assert.deepEqual([after[0].version, after[0].content.notes], [inv.version + 1, 'A edit'], 'DynamoDB keeps A\'s');
  await a.context.close();
  await b.context.close();
});

test('a client made from an old issued invoice is a stand-in: DynamoDB\'s newer client record replaces it, without a conflict, and is never overwritten', async () => {
  const email = 'standin@ledgerline.test';
  const a = await signedIn(email);
  await status(a.page, 'connected');
  await addClient(a.page, 'Umbrella', { address: 'Old Road 1' });
  await quickInvoice(a.page, 'Issued with the old address');
  const [inv] = await until('the invoice in DynamoDB', async () => { const r = await remote(a.sub); return r.length === 1 && r; });
  const key = '#client#' + inv.content.clientId;
  // the old address reaches DynamoDB first (version 1), so the move below is version 2;
  // without this wait the two saves may go up as one, and the version would depend on timing
  await until('the client\'s first record in DynamoDB', async () => (await records(a.sub))[key]?.content?.address === 'Old Road 1');
  assert.equal((await records(a.sub))[key].version, 1);
  await a.page.goto(stack.server.url + 'invoices/' + inv.id);
  await ready(a.page);
  await tid(a.page, 'inv-status').selectOption('sent');
  await tid(a.page, 'inv-save').click();
  await tid(a.page, 'invoice-table').waitFor();
  // the client moves after the invoice was issued
  await editClientAddress(a.page, 'Umbrella', 'New Road 2');
  await until('both in DynamoDB', async () => {
    const r = await remote(a.sub);
    return r[0]?.content.status === 'sent' && (await records(a.sub))[key]?.content?.address === 'New Road 2';
  });
  assert.equal((await remote(a.sub))[0].content.billTo.address, 'Old Road 1', 'issued with the old address');

  const b = await signedIn(email, { create: false });
  await status(b.page, 'connected');
  await until('B holds DynamoDB\'s client', async () => (await clientsOf(b.page)).some((c) => c.address === 'New Road 2'), 30000);
  // a few more rounds: nothing goes back
  await new Promise((r) => setTimeout(r, 5000));
  const r = (await records(a.sub))[key];
  assert.equal(r.content.address, 'New Road 2', 'DynamoDB\'s record was not overwritten by the stand-in');
  assert.equal(r.version, 2);
  assert.deepEqual(await syncStore(b.page, 'conflicts'), [], 'no conflict for a stand-in');
  assert.equal((await remote(a.sub)).length, 1);
  await a.context.close();
  await b.context.close();
});
