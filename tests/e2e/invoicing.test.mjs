import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, open, tid, nav, addClient, newInvoice, fillInvoice, rows, dumpStorage, ready } from './helpers.mjs';

let server, browser;
before(async () => ({ server, browser } = await setup()));
after(async () => { await browser?.close(); await server?.close(); });

// The case computed by hand in core/src/totals.rs (hand_computed_three_lines_two_rates).
const HAND = {
  client: 'Acme Corp',
  issue: '2026-01-10',
  due: '2026-02-09',
  currency: 'USD',
  lines: [
    { desc: 'Design work', qty: '3', price: '19.99', taxes: '10, 5' },
    { desc: 'Consulting', qty: '1.5', price: '120', taxes: '10', discount: '10' },
    { desc: 'Stickers', qty: '2', price: '7.25', taxes: '5' },
  ],
  shipping: '5.00',
};

test('client + invoice with 3 lines and 2 tax rates: totals match the hand computation and survive reload', async () => {
  const { context, page } = await open(browser, server.url);
  await addClient(page, 'Acme Corp', { email: 'billing@acme.test' });
  await nav(page, 'Invoices');
  await page.getByRole('link', { name: 'New invoice' }).click();
  await fillInvoice(page, HAND);
  assert.equal(await tid(page, 'total-subtotal').textContent(), 'USD 236.47');
  const taxes = await tid(page, 'tax-row').allTextContents();
  assert.deepEqual(taxes, ['Tax 5 % on USD 74.47USD 3.72', 'Tax 10 % on USD 221.97USD 22.20']);
  assert.equal(await tid(page, 'total-shipping').textContent(), 'USD 5.00');
  assert.equal(await tid(page, 'total-grand').textContent(), 'USD 267.39');
  await tid(page, 'inv-save').click();
  await tid(page, 'invoice-table').waitFor();
  assert.deepEqual(await rows(page), [{ number: 'INV-0001', client: 'Acme Corp', status: 'draft', total: 'USD 267.39' }]);

  await page.reload();
  await ready(page);
  assert.deepEqual(await rows(page), [{ number: 'INV-0001', client: 'Acme Corp', status: 'draft', total: 'USD 267.39' }]);
  // the stored record carries version, updatedAt and checksum
  const stored = Object.entries(await dumpStorage(page)).filter(([k]) => k.includes('/invoice/'));
  assert.equal(stored.length, 1);
  const rec = JSON.parse(stored[0][1]);
  assert.equal(rec.version, 1);
  assert.match(rec.checksum, /^fnv1a64:[0-9a-f]{16}$/);
  assert.ok(Date.parse(rec.updatedAt) > 0);
  assert.ok(stored[0][0].startsWith('ledgerline/v1/anonymous/invoice/'));
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('edit, duplicate, delete with confirm and undo; search and status filter', async () => {
  const { context, page } = await open(browser, server.url);
  await addClient(page, 'Acme Corp');
  await addClient(page, 'Globex');
  await newInvoice(page, { client: 'Acme Corp', lines: [{ desc: 'A', qty: '1', price: '100' }] });
  await newInvoice(page, { client: 'Globex', lines: [{ desc: 'B', qty: '2', price: '50.50' }] });
  assert.equal((await rows(page)).length, 2);

  // edit: mark INV-0001 as sent with a past due date -> overdue
  await page.getByRole('link', { name: 'INV-0001' }).click();
  await fillInvoice(page, { status: 'sent', issue: '2025-01-01', due: '2025-01-31' });
  await tid(page, 'inv-save').click();
  await tid(page, 'invoice-table').waitFor();
  let r = await rows(page);
  assert.equal(r.find((x) => x.number === 'INV-0001').status, 'overdue');
  const rec = Object.entries(await dumpStorage(page)).map(([, v]) => JSON.parse(v)).find((v) => v.number === 'INV-0001');
  assert.equal(rec.version, 2);

  // duplicate INV-0002 -> INV-0003 as a draft
  await tid(page, 'invoice-row').filter({ hasText: 'INV-0002' }).getByTestId('invoice-duplicate').click();
  await tid(page, 'invoice-row').filter({ hasText: 'INV-0003' }).waitFor();
  r = await rows(page);
  const dup = r.find((x) => x.number === 'INV-0003');
  assert.deepEqual(dup, { number: 'INV-0003', client: 'Globex', status: 'draft', total: 'USD 101.00' });

  // search by client and by number
  await tid(page, 'invoice-search').fill('globex');
  assert.deepEqual((await rows(page)).map((x) => x.number).sort(), ['INV-0002', 'INV-0003']);
  await tid(page, 'invoice-search').fill('0001');
  assert.deepEqual((await rows(page)).map((x) => x.number), ['INV-0001']);
  await tid(page, 'invoice-search').fill('');
  // status filter
  await tid(page, 'invoice-status-filter').selectOption('overdue');
  assert.deepEqual((await rows(page)).map((x) => x.number), ['INV-0001']);
  await tid(page, 'invoice-status-filter').selectOption('draft');
  assert.deepEqual((await rows(page)).map((x) => x.number).sort(), ['INV-0002', 'INV-0003']);
  await tid(page, 'invoice-status-filter').selectOption('all');
  // sort by amount
  await tid(page, 'invoice-sort').selectOption('amount-desc');
  assert.deepEqual((await rows(page)).map((x) => x.total), ['USD 101.00', 'USD 101.00', 'USD 100.00']);
  await tid(page, 'invoice-sort').selectOption('amount-asc');
  assert.equal((await rows(page))[0].number, 'INV-0001');

  // delete asks first; "Keep" keeps it
  const row3 = tid(page, 'invoice-row').filter({ hasText: 'INV-0003' });
  await row3.getByTestId('invoice-delete').click();
  await row3.getByTestId('invoice-delete-cancel').click();
  assert.equal((await rows(page)).length, 3);
  await row3.getByTestId('invoice-delete').click();
  await row3.getByTestId('invoice-delete-confirm').click();
  await tid(page, 'toast').filter({ hasText: 'Deleted invoice INV-0003' }).waitFor();
  assert.equal((await rows(page)).length, 2);
  // undo puts it back, in storage too
  await tid(page, 'undo').click();
  await tid(page, 'invoice-row').filter({ hasText: 'INV-0003' }).waitFor();
  await page.reload();
  await ready(page);
  assert.equal((await rows(page)).length, 3);
  // delete for good
  await tid(page, 'invoice-row').filter({ hasText: 'INV-0003' }).getByTestId('invoice-delete').click();
  await tid(page, 'invoice-row').filter({ hasText: 'INV-0003' }).getByTestId('invoice-delete-confirm').click();
  await page.reload();
  await ready(page);
  assert.deepEqual((await rows(page)).map((x) => x.number).sort(), ['INV-0001', 'INV-0002']);
  // totals per currency
  assert.equal(await tid(page, 'currency-totals').textContent(), 'USD 201.00');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('validation: clear inline messages and nothing is saved half-way', async () => {
  const { context, page } = await open(browser, server.url);
  await addClient(page, 'Acme Corp');
  await nav(page, 'Invoices');
  await page.getByRole('link', { name: 'New invoice' }).click();
  await fillInvoice(page, {
    issue: '2026-03-10', due: '2026-03-01', currency: 'XYZ',
    lines: [{ desc: 'Thing', qty: '-2', price: '10' }],
  });
  await tid(page, 'inv-save').click();
  const summary = await tid(page, 'form-errors').textContent();
  assert.match(summary, /Nothing was saved/);
  assert.match(await tid(page, 'inv-client-error').textContent(), /Choose a client/);
  assert.match(await tid(page, 'inv-due-date-error').textContent(), /due date is before the issue date/);
  assert.match(await tid(page, 'inv-currency-error').textContent(), /Unknown currency 'XYZ'/);
  assert.match(await tid(page, 'line').first().locator('.field-error').textContent(), /Quantity cannot be negative/);
  const keys = Object.keys(await dumpStorage(page)).filter((k) => k.includes('/invoice/'));
  assert.deepEqual(keys, []);
  // fixing everything saves
  await fillInvoice(page, { client: 'Acme Corp', due: '2026-04-01', currency: 'EUR', lines: [{ qty: '2' }] });
  await tid(page, 'inv-save').click();
  await tid(page, 'invoice-table').waitFor();
  assert.deepEqual(await rows(page), [{ number: 'INV-0001', client: 'Acme Corp', status: 'draft', total: 'EUR 20.00' }]);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('clients: edit renames everywhere; a client on invoices cannot be deleted, an unused one can', async () => {
  const { context, page } = await open(browser, server.url);
  await addClient(page, 'Initech');
  await addClient(page, 'Unused Co');
  await newInvoice(page, { client: 'Initech', lines: [{ desc: 'TPS reports', qty: '1', price: '10' }] });
  await nav(page, 'Clients');
  await tid(page, 'client-row').filter({ hasText: 'Initech' }).getByTestId('client-edit').click();
  await tid(page, 'client-name').fill('Initech LLC');
  await tid(page, 'client-save').click();
  await tid(page, 'client-row').filter({ hasText: 'Initech LLC' }).waitFor();
  await tid(page, 'client-row').filter({ hasText: 'Initech LLC' }).getByTestId('client-delete').click();
  assert.match(await tid(page, 'client-error').textContent(), /on 1 invoice: delete those invoices or choose another client/);
  await tid(page, 'client-row').filter({ hasText: 'Unused Co' }).getByTestId('client-delete').click();
  assert.equal(await tid(page, 'client-row').count(), 1);
  // an empty name is refused with a message
  await tid(page, 'client-new').click();
  await tid(page, 'client-save').click();
  assert.match(await tid(page, 'client-error').textContent(), /Enter the client's name/);
  await nav(page, 'Invoices');
  assert.equal((await rows(page))[0].client, 'Initech LLC');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('two tabs: a save in one shows up in the other', async () => {
  const { context, page } = await open(browser, server.url);
  await addClient(page, 'Tab Client');
  const other = await context.newPage();
  await other.goto(server.url);
  await ready(other);
  await newInvoice(page, { client: 'Tab Client', lines: [{ desc: 'x', qty: '1', price: '3' }] });
  await tid(other, 'invoice-row').filter({ hasText: 'INV-0001' }).waitFor({ timeout: 10000 });
  await context.close();
});
