// What the benchmarks share: the baselines they print their figures beside, and seeding a
// page with a bundle of invoices.
import { PutItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TABLE, LOCAL_KEYS } from '../support/standins.mjs';

/** The baseline for writes: `n` PutItems of `content` (an invoice), one after the other,
 * through `endpoint` (the fault proxy, so its latency counts alike). Returns the ms taken. */
export async function sequentialPuts(endpoint, n, content) {
  const db = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_KEYS, maxAttempts: 1 });
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    await db.send(new PutItemCommand({ TableName: TABLE, Item: {
      userId: { S: 'baseline' }, invoiceId: { S: `base-${i}` }, version: { N: '1' }, content: { S: JSON.stringify(content) },
    } }));
  }
  return Date.now() - t0;
}

/** Writes a bundle's settings, clients and invoices into the page's localStorage, as the
 * anonymous user's (reload the page to read them). */
export async function seedAnonymous(page, bundle) {
  await page.evaluate((b) => {
    const ns = 'ledgerline/v1/anonymous/';
    localStorage.setItem(ns + 'settings', JSON.stringify(b.settings));
    for (const c of b.clients) localStorage.setItem(ns + 'client/' + c.id, JSON.stringify(c));
    for (const i of b.invoices) localStorage.setItem(ns + 'invoice/' + i.id, JSON.stringify(i));
  }, bundle);
}
