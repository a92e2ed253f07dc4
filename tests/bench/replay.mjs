// Replay benchmark: prints figures, asserts nothing.
//   node tests/bench/replay.mjs [writes=1000] [latencyMs=20]
// For each local DynamoDB server (moto: has TransactWriteItems, as AWS does; dynalite:
// lacks it, so the replay falls back to single conditional writes, 8 at a time), the app
// queues `writes` invoices offline (Data -> Import), then DynamoDB comes back behind the
// fault proxy adding `latencyMs` to every request. Measured: the round trips the replay
// makes and its wall time (first write request -> queue empty), beside a baseline in the
// same run: one PutItem per invoice, sequentially, through the same proxy.
// "Slow server" (moto, BENCH_SLOW=0 skips it): the proxy adds 2 s to every request and
// 150 ms per action of a transaction, so one of 100 actions takes longer than the app's
// 15 s timeout; the replay's round trips are compared with moto's at full speed in the
// same run (target: within 2x).
import { sequentialPuts } from './common.mjs';
import { addClient, nav, download } from '../e2e/helpers.mjs';
import { startCloudStack, kit } from '../e2e/cloud-stack.mjs';

const WRITES = Number(process.argv[2] || 1000);
const LATENCY = Number(process.argv[3] || 20);
const WRITE_OPS = ['TransactWriteItems', 'PutItem', 'DeleteItem', 'GetItem'];

async function measure(server, slow = false) {
  const stack = await startCloudStack(`bench-${server}${slow ? '-slow' : ''}`, { server });
  const k = kit(() => stack);
  try {
    const { page, sub } = await k.signedIn(`bench-${server}@ledgerline.test`);
    await k.status(page, 'connected');
    await addClient(page, 'Bench Client');
    await k.quickInvoice(page, 'Template');
    await k.until('the template in DynamoDB', async () => (await k.remote(sub)).length === 1);
    await nav(page, 'Data');
    const exported = JSON.parse((await download(page, 'export-json')).text);
    await stack.proxy.set({ mode: 'drop' });
    await k.status(page, 'local');
    await k.importBundle(page, k.bundleOf(exported, WRITES, 'B'), `bench-${server}`);
    await k.until(`${WRITES} queued`, async () => (await k.syncStore(page, 'queue')).length === WRITES, 120000);

    await stack.proxy.resetStats();
    await stack.proxy.set(slow ? { mode: 'pass', latencyMs: 2000, latencyPerItemMs: 150 } : { mode: 'pass', latencyMs: LATENCY });
    await k.until('the replay to start', async () => { const s = await stack.proxy.stats(); return WRITE_OPS.some((op) => s.byTarget[op]); }, 60000);
    await k.until('the queue to drain', async () => (await k.syncStore(page, 'queue')).length === 0, 600000);
    const done = Date.now();
    const s = await stack.proxy.stats();
    const first = Math.min(...WRITE_OPS.map((op) => s.firstAt[op] ?? Infinity));
    const trips = WRITE_OPS.reduce((n, op) => n + (s.byTarget[op] || 0), 0);
    const stored = (await k.remote(sub)).length;
    const serverMs = WRITE_OPS.reduce((n, op) => n + (s.serverMs[op] || 0), 0);
    await stack.proxy.resetStats();
    if (slow) return { server, slow, trips, byTarget: s.byTarget, ms: done - first, serverMs, stored };

    // baseline: one PutItem per invoice, one after the other, same proxy and latency
    const baseMs = await sequentialPuts(stack.proxy.url, WRITES, exported.invoices[0]);
    const baseServerMs = (await stack.proxy.stats()).serverMs.PutItem || 0;
    return { server, trips, byTarget: s.byTarget, ms: done - first, serverMs, stored, baseTrips: WRITES, baseMs, baseServerMs };
  } finally {
    await stack.stop();
  }
}

const rows = [];
const servers = (process.env.BENCH_SERVERS || 'moto,dynalite').split(',');
for (const server of servers) rows.push(await measure(server));
const slow = servers.includes('moto') && process.env.BENCH_SLOW !== '0' ? await measure('moto', true) : null;
console.log(`\nReplay of ${WRITES} queued writes, ${LATENCY} ms added to every request (fault proxy):`);
for (const r of rows) {
  const how = r.server === 'moto' ? 'TransactWriteItems, 100 per call' : 'no transactions: single conditional writes, 8 at a time';
  console.log(`  ${r.server.padEnd(8)} (${how})`);
  console.log(`    replay:   ${String(r.trips).padStart(5)} round trips  ${String(r.ms).padStart(6)} ms wall, ${String(r.serverMs).padStart(6)} ms inside the server  (${JSON.stringify(r.byTarget)}; ${r.stored} items stored)`);
  console.log(`    baseline: ${String(r.baseTrips).padStart(5)} round trips  ${String(r.baseMs).padStart(6)} ms wall, ${String(r.baseServerMs).padStart(6)} ms inside the server  (sequential PutItem, one per invoice)`);
  console.log(`    => ${(r.baseTrips / r.trips).toFixed(1)}x fewer round trips, ${(r.baseMs / r.ms).toFixed(1)}x less time (targets: >= 20x, >= 10x)`);
  if (r.server === 'moto') {
    // moto's transactions slow down as its table grows (an in-memory Python stand-in);
    // AWS keeps them flat, so the time outside the server is the figure to compare there
    const outside = Math.max(1, r.ms - r.serverMs);
    console.log(`       outside the server: ${outside} ms vs ${r.baseMs - r.baseServerMs} ms => ${((r.baseMs - r.baseServerMs) / outside).toFixed(1)}x less time`);
  }
}
if (slow) {
  const fast = rows.find((r) => r.server === 'moto');
  console.log(`  moto, slow server (2 s per request + 150 ms per transaction action; the app gives up on a call after 15 s)`);
  console.log(`    replay:   ${String(slow.trips).padStart(5)} round trips  ${String(slow.ms).padStart(6)} ms wall  (${JSON.stringify(slow.byTarget)}; ${slow.stored} items stored)`);
  console.log(`    => ${(slow.trips / fast.trips).toFixed(1)}x the round trips at full speed (${fast.trips}; target: within 2x)`);
}
