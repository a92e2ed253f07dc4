// Two-device benchmark: prints figures, asserts nothing.
//   node tests/bench/devices.mjs [edits=200]
// Two browser contexts signed in as one user (two laptops) share 2 x `edits` invoices
// (imported on A, pulled by B). Both go offline (the fault proxy drops everything) and
// each edits `edits` invoices of its own half through the editor. DynamoDB comes back:
// measured is the time and the round trips until DynamoDB holds every edit and both
// devices, reopened, hold all of them (convergence), beside a baseline in the same run:
// one PutItem per edited invoice, sequentially, through the same proxy.
import { sequentialPuts } from './common.mjs';
import { addClient, nav, download, ready, tid } from '../e2e/helpers.mjs';
import { startCloudStack, kit } from '../e2e/cloud-stack.mjs';

const EDITS = Number(process.argv[2] || 200);
const stack = await startCloudStack('bench-devices');
const k = kit(() => stack);
const notesOf = (page) => page.evaluate(() => Object.fromEntries(Object.keys(localStorage)
  .filter((key) => key.includes('/invoice/'))
  .map((key) => { const v = JSON.parse(localStorage.getItem(key)); return [v.id, v.notes]; })));

async function editAll(page, ids, tag) {
  for (const id of ids) {
    await page.goto(stack.server.url + 'invoices/' + id);
    await ready(page);
    await tid(page, 'inv-notes').fill(`${tag} ${id}`);
    await tid(page, 'inv-save').click();
    await tid(page, 'invoice-table').waitFor();
  }
}

try {
  const email = 'bench-devices@ledgerline.test';
  const a = await k.signedIn(email);
  await k.status(a.page, 'connected');
  await addClient(a.page, 'Bench Client');
  await k.quickInvoice(a.page, 'Template');
  await k.until('the template in DynamoDB', async () => (await k.remote(a.sub)).length === 1);
  await nav(a.page, 'Data');
  const exported = JSON.parse((await download(a.page, 'export-json')).text);
  await k.importBundle(a.page, k.bundleOf(exported, 2 * EDITS, 'D'), 'bench-devices');
  const total = 2 * EDITS + 1;
  await k.until(`${total} invoices in DynamoDB`, async () => (await k.remote(a.sub)).length === total, 300000);
  const b = await k.signedIn(email, { create: false });
  await k.status(b.page, 'connected');
  await k.until(`${total} invoices on B`, async () => Object.keys(await notesOf(b.page)).length === total, 300000);

  const ids = Array.from({ length: 2 * EDITS }, (_, i) => `d-${String(i).padStart(5, '0')}`);
  const mineA = ids.slice(0, EDITS);
  const mineB = ids.slice(EDITS);
  await stack.proxy.set({ mode: 'drop' });
  await k.status(a.page, 'local');
  await k.status(b.page, 'local');
  const e0 = Date.now();
  await Promise.all([editAll(a.page, mineA, 'A'), editAll(b.page, mineB, 'B')]);
  const editMs = Date.now() - e0;

  await stack.proxy.resetStats();
  const t0 = Date.now();
  await stack.proxy.set({ mode: 'pass' });
  const edited = (items) => items.filter((i) => /^[AB] d-/.test(i.content.notes)).length;
  await k.until('every edit in DynamoDB', async () => edited(await k.remote(a.sub)) === 2 * EDITS, 600000);
  const uploadedMs = Date.now() - t0;
  // each device reopened pulls the other's edits
  await Promise.all([a.page.reload(), b.page.reload()]);
  const converged = async (page) => {
    const n = await notesOf(page);
    return ids.every((id, i) => n[id] === `${i < EDITS ? 'A' : 'B'} ${id}`);
  };
  await k.until('both devices hold every edit', async () => (await converged(a.page)) && (await converged(b.page)), 600000);
  const convergedMs = Date.now() - t0;
  const s = await stack.proxy.stats();
  const trips = Object.entries(s.byTarget).reduce((n, [, c]) => n + c, 0);

  const baseMs = await sequentialPuts(stack.proxy.url, 2 * EDITS, exported.invoices[0]);

  console.log(`\nTwo devices, ${EDITS} offline edits each (dynalite behind the fault proxy, no added latency):`);
  console.log(`  editing offline (both at once, through the editor): ${editMs} ms`);
  console.log(`  back online -> DynamoDB holds all ${2 * EDITS} edits: ${uploadedMs} ms`);
  console.log(`  back online -> both devices (reopened) hold all of them: ${convergedMs} ms, ${trips} round trips (${JSON.stringify(s.byTarget)})`);
  console.log(`  baseline: ${2 * EDITS} sequential PutItem: ${baseMs} ms, ${2 * EDITS} round trips`);
  console.log(`  => convergence ${(convergedMs / baseMs).toFixed(2)}x the baseline's time, ${(trips / (2 * EDITS)).toFixed(2)}x its round trips`);
} finally {
  await stack.stop();
}
