// What one connection check costs with 2,000 invoices in the partition: the change-marker
// read (one consistent GetItem) beside what a pull's versions Query reads (the whole
// partition, projected). Prints bytes on the wire (response bodies) and read units (as
// DynamoDB bills them: consistent reads, 4 KB per unit; a Query is billed on the full
// size of the items it reads, whatever the projection). Asserts nothing.
//   node tests/bench/check-cost.mjs [invoices=2000]
import { startDynalite, ensureTable, awsCall, TABLE } from '../support/standins.mjs';

const N = Number(process.argv[2] || 2000);
const USER = 'bench-check';
const db = await startDynalite();
try {
  await ensureTable(db.endpoint);
  const content = (i) => JSON.stringify({
    number: `INV-${String(i + 1).padStart(4, '0')}`, clientId: 'c1', issueDate: '2026-11-02', dueDate: '2026-12-02',
    status: 'sent', currency: 'EUR', notes: 'Thank you for your business.', terms: 'Payable within 30 days.',
    billTo: { name: 'Acme Trading Ltd', address: '1 Main Street\n12345 Springfield', email: 'ap@acme.test' },
    lines: Array.from({ length: 3 }, (_, l) => ({ description: `Consulting, week ${l + 1}`, quantity: '8', unitPrice: '95.00', taxes: ['19'] })),
  });
  let stored = 0;
  for (let i = 0; i < N; i += 25) {
    const items = [];
    for (let j = i; j < Math.min(N, i + 25); j++) {
      const c = content(j);
      stored += c.length;
      items.push({ PutRequest: { Item: {
        userId: { S: USER }, invoiceId: { S: `inv-${String(j).padStart(5, '0')}` }, version: { N: '3' },
        updatedAt: { S: '2026-12-02T09:00:00Z' }, checksum: { S: 'fnv1a64:0123456789abcdef' }, number: { S: `INV-${j + 1}` },
        content: { S: c }, builtOn: { S: '2:fnv1a64:0123456789abcdef' },
      } } });
    }
    await awsCall(db.endpoint, 'DynamoDB_20120810.BatchWriteItem', { RequestItems: { [TABLE]: items } });
  }
  await awsCall(db.endpoint, 'DynamoDB_20120810.PutItem', { TableName: TABLE, Item: { userId: { S: USER }, invoiceId: { S: '#changes' }, token: { S: '18c2f7a1e00-9f3b2c41' } } });

  const units = (bytes) => Math.ceil(bytes / 4096);
  // the check: one consistent GetItem of the marker
  const t0 = performance.now();
  const marker = await awsCall(db.endpoint, 'DynamoDB_20120810.GetItem', {
    TableName: TABLE, Key: { userId: { S: USER }, invoiceId: { S: '#changes' } }, ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL',
  });
  const markerMs = performance.now() - t0;
  const markerBytes = JSON.stringify(marker).length;
  const markerUnits = marker.ConsumedCapacity?.CapacityUnits ?? units(JSON.stringify(marker.Item).length);

  // what a pull reads first: every item's version (projected), page by page
  let pages = 0, bytes = 0, billed = 0, reported = 0, start;
  const t1 = performance.now();
  do {
    const r = await awsCall(db.endpoint, 'DynamoDB_20120810.Query', {
      TableName: TABLE, KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': { S: USER } },
      ProjectionExpression: 'invoiceId, version, deleted, #c, builtOn', ExpressionAttributeNames: { '#c': 'checksum' },
      ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL', ExclusiveStartKey: start,
    });
    pages += 1;
    bytes += JSON.stringify(r).length;
    reported += r.ConsumedCapacity?.CapacityUnits ?? 0;
    start = r.LastEvaluatedKey;
  } while (start);
  const queryMs = performance.now() - t1;
  // DynamoDB bills a Query on the items read (summed, then rounded up per 4 KB): dynalite
  // reports that; an estimate from the stored sizes otherwise
  billed = reported || units(stored + N * 220);

  console.log(`\nOne connection check with ${N} invoices in the partition (dynalite, consistent reads):`);
  console.log(`  change marker (GetItem):        ${String(markerBytes).padStart(8)} bytes  ${String(markerUnits).padStart(5)} read unit(s)  ${markerMs.toFixed(1)} ms`);
  console.log(`  versions Query (what a pull reads first): ${bytes} bytes in ${pages} page(s), ${billed} read units${reported ? '' : ' (estimated)'}, ${queryMs.toFixed(1)} ms`);
  console.log(`  => a quiet check costs ${(bytes / markerBytes).toFixed(0)}x fewer bytes and ${(billed / markerUnits).toFixed(0)}x fewer read units than reading the versions each time`);
} finally {
  await db.stop();
}
