// What the cloud end-to-end tests share: dynalite (persisted, restartable on the same
// port) behind the fault proxy, cognito-local with the preset pool, the app's server,
// Chromium, and an independent DynamoDB client (the AWS SDK for JavaScript).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient, QueryCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { startServer } from '../support/server.mjs';
import { launchBrowser, newPage, recordErrors, launchPersistent } from '../support/browser.mjs';
import { startDynalite, startMoto, ensureTable, startCognito, ensurePool, freePort, LOCAL_KEYS, ACADEMY_KEYS, TABLE } from '../support/standins.mjs';
import { startFaultProxy } from '../support/fault-proxy.mjs';
import { dist, ready, tid, nav } from './helpers.mjs';

// Shaped like AWS Academy credentials; the documented AWS example values, not real keys.
// One of the fault proxy's KNOWN_KEYS: it checks the app's signatures with this secret.
export const KEY_ID = ACADEMY_KEYS.accessKeyId; // 'ASIAIOSFODNN7EXAMPLE'
export const SECRET = ACADEMY_KEYS.secretAccessKey; // 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
export const TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLE/TOKEN+'.repeat(12) + '==';
export const BLOCK = `[default]\naws_access_key_id=${KEY_ID}\naws_secret_access_key=${SECRET}\naws_session_token=${TOKEN}\n`;
export const PASSWORD = 'Ledgerline-test-1';

/** `server`: 'dynalite' (default; persisted, restartable) or 'moto' (has
 * TransactWriteItems; in memory, so a restart starts empty). */
export async function startCloudStack(name, { server = 'dynalite' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ledgerline-${name}-`));
  const dynamoDir = path.join(dir, 'dynalite');
  const dynamoPort = await freePort();
  const s = { dir };
  const startStore = () => (server === 'moto' ? startMoto({ port: dynamoPort }) : startDynalite({ port: dynamoPort, dir: dynamoDir }));
  s.dynamo = await startStore();
  await ensureTable(s.dynamo.endpoint);
  s.proxy = await startFaultProxy({ target: s.dynamo.endpoint });
  s.cognito = await startCognito({ dir: path.join(dir, 'cognito') });
  s.pool = await ensurePool(s.cognito, null);
  s.server = await startServer({ root: dist });
  s.browser = await launchBrowser();
  s.db = new DynamoDBClient({ endpoint: s.dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_KEYS });
  /** The real server process comes back, same port, same data. */
  s.restartDynamo = async () => {
    s.dynamo = await startStore();
  };
  /** Between tests: the proxy passing everything at once (its clock right, checking
   * signatures), the server running. */
  s.reset = async () => {
    await s.proxy.set({ mode: 'pass', latencyMs: 0, latencyPerItemMs: 0, clockOffsetMs: 0, verify: true, barrier: null });
    const up = await fetch(s.dynamo.endpoint, { method: 'POST' }).then(() => true, () => false);
    if (!up) await s.restartDynamo();
  };
  s.stop = async () => {
    await s.browser?.close();
    await s.server?.close();
    await s.proxy?.close();
    await s.dynamo?.stop();
    await s.cognito?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return s;
}

/**
 * Steps the sync tests share, bound to a stack (a function, because the stack starts in
 * `before`): sign in through the UI, wait for a status, read DynamoDB independently, ...
 */
export function kit(getStack) {
  const s = () => getStack();

  /** A fresh context, configured for the stand-ins and signed in as `email` (created
   * unless `create` is false). `contextOptions` go to browser.newContext. `identityPool`
   * ({id, endpoint}): AWS credentials from that Cognito identity pool, none pasted.
   * `interval`: the connection check's, in seconds. */
  async function signedIn(email, { create = true, contextOptions = null, persistent = false, identityPool = null, interval = '2' } = {}) {
    const { browser, server, proxy, cognito, pool } = s();
    const { context, page, close } = persistent
      ? await launchPersistent(server.url, contextOptions ?? {})
      : contextOptions
        ? await (async () => {
          const context = await browser.newContext({ baseURL: server.url, acceptDownloads: true, ...contextOptions });
          return { context, page: recordErrors(await context.newPage()) };
        })()
        : await newPage(browser, server.url);
    await page.goto(server.url);
    await ready(page);
    await nav(page, 'Account');
    await tid(page, 'cognito-pool').fill(pool.userPoolId);
    await tid(page, 'cognito-client').fill(pool.clientId);
    await tid(page, 'cognito-endpoint').fill(cognito.endpoint);
    if (identityPool) {
      await tid(page, 'cognito-identity-pool').fill(identityPool.id);
      await tid(page, 'cognito-identity-endpoint').fill(identityPool.endpoint);
    }
    await tid(page, 'cognito-save').click();
    await tid(page, 'auth-message').filter({ hasText: 'User pool settings saved' }).waitFor();
    await nav(page, 'Settings');
    await tid(page, 'cloud-endpoint').fill(proxy.url);
    await tid(page, 'cloud-interval').fill(interval);
    await tid(page, 'cloud-config-save').click();
    await tid(page, 'cloud-config-message').filter({ hasText: 'saved' }).waitFor();
    if (!identityPool) {
      await tid(page, 'cred-block').fill(BLOCK);
      await tid(page, 'cred-save').click();
      await page.waitForSelector('[data-testid="cloud-result"][data-class="connected"]');
    }
    if (create) {
      await cognito.call('SignUp', { ClientId: pool.clientId, Username: email, Password: PASSWORD, UserAttributes: [{ Name: 'email', Value: email }] });
      await cognito.call('AdminConfirmSignUp', { UserPoolId: pool.userPoolId, Username: email });
    }
    await nav(page, 'Account');
    await tid(page, 'auth-email').fill(email);
    await tid(page, 'auth-password').fill(PASSWORD);
    await tid(page, 'auth-signin').click();
    await tid(page, 'account-email').waitFor();
    const sub = /User id \(DynamoDB partition\): ([0-9a-f-]{36})/.exec(await tid(page, 'account-info').textContent())[1];
    return { context, page, sub, close: close ?? (() => context.close()) };
  }

  const status = (page, state, timeout = 20000) =>
    page.waitForSelector(`[data-testid="storage-status"][data-state="${state}"]`, { timeout });

  /** Every raw item of `sub`'s partition (invoices and tombstones), read with an
   * independent client (the JS SDK). */
  async function rawItems(sub) {
    const items = [];
    let start;
    do {
      const r = await s().db.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': { S: sub } }, ExclusiveStartKey: start }));
      items.push(...r.Items);
      start = r.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** The invoices of `sub`'s partition (tombstones and the number counter, `#counter`,
   * left out). */
  async function remote(sub) {
    return (await rawItems(sub)).filter((i) => !i.deleted?.BOOL && !i.invoiceId.S.startsWith('#'))
      .map((i) => ({ id: i.invoiceId.S, version: Number(i.version.N), content: JSON.parse(i.content.S), checksum: i.checksum.S }));
  }

  /** The tombstones of `sub`'s partition: deletions made in Ledgerline. */
  async function tombstones(sub) {
    return (await rawItems(sub)).filter((i) => i.deleted?.BOOL && !i.invoiceId.S.startsWith('#'))
      .map((i) => ({ id: i.invoiceId.S, version: Number(i.version.N), expiresAt: Number(i.expiresAt?.N), content: i.content }));
  }

  /** Writes a tombstone straight into DynamoDB, as another device deleting the invoice. */
  async function putTombstone(sub, id, version) {
    await s().db.send(new PutItemCommand({ TableName: TABLE, Item: {
      userId: { S: sub }, invoiceId: { S: id }, version: { N: String(version) }, deleted: { BOOL: true },
      updatedAt: { S: new Date().toISOString() }, expiresAt: { N: String(Math.floor(Date.now() / 1000) + 90 * 86400) },
    } }));
  }

  /** Writes an invoice straight into DynamoDB, as another device would: `version` and
   * `content`, sealed with its checksum unless `checksum` is given (a damaged item). */
  async function putRemote(sub, id, version, content, { checksum = checksumOf(content) } = {}) {
    await s().db.send(new PutItemCommand({ TableName: TABLE, Item: {
      userId: { S: sub }, invoiceId: { S: id }, version: { N: String(version) }, updatedAt: { S: new Date().toISOString() },
      checksum: { S: checksum }, number: { S: content.number }, content: { S: JSON.stringify(content) },
    } }));
  }

  /** Waits until `check()` is truthy (polling), or fails naming `what`. */
  async function until(what, check, timeout = 30000) {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await check();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Saves a new invoice through the editor (fast path: only what is needed). */
  async function quickInvoice(page, desc) {
    await page.goto(s().server.url + 'invoices/new');
    await ready(page);
    await page.locator('[data-testid="inv-client"] option:nth-child(2)').waitFor({ state: 'attached' });
    await tid(page, 'inv-client').selectOption({ index: 1 });
    const line = tid(page, 'line').first();
    await line.locator('input.line-desc').fill(desc);
    await line.locator('input.line-price').fill('10');
    await tid(page, 'inv-save').click();
    const outcome = await Promise.race([
      tid(page, 'invoice-table').waitFor().then(() => null),
      tid(page, 'form-errors').waitFor().then(() => tid(page, 'form-errors').textContent()),
      tid(page, 'quota-warning').waitFor().then(() => tid(page, 'quota-warning').textContent()),
    ]);
    if (outcome) throw new Error(`saving "${desc}" failed: ${outcome}`);
  }

  /** Edits the notes of invoice `id` through the editor. */
  async function editNotes(page, id, notes) {
    await page.goto(s().server.url + 'invoices/' + id);
    await ready(page);
    await tid(page, 'inv-notes').fill(notes);
    await tid(page, 'inv-save').click();
    await tid(page, 'invoice-table').waitFor();
  }

  /** Deletes invoice `id` from the list (searching for it by number if it is not shown). */
  async function deleteInvoice(page, id) {
    const row = page.locator(`[data-testid="invoice-row"][data-id="${id}"]`);
    if (!(await row.count())) {
      await tid(page, 'invoice-search').fill(await page.evaluate((id) => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith('/invoice/' + id)))).number, id));
    }
    await row.getByTestId('invoice-delete').click();
    await row.getByTestId('invoice-delete-confirm').click();
    await tid(page, 'invoice-search').fill('');
  }

  /** Runs `step`; on failure reports what the page showed and logged. */
  async function explain(page, step) {
    try {
      return await step();
    } catch (e) {
      const body = await page.evaluate(() => document.body.innerText.slice(0, 600)).catch(() => '?');
      throw new Error(`${e.message}\nurl: ${page.url()}\nerrors: ${JSON.stringify(page.errors)}\nbody: ${body}`);
    }
  }

  /** One store of IndexedDB `ledgerline-sync` (queue, synced, conflicts), parsed. */
  const syncStore = (page, store) => page.evaluate((store) => new Promise((resolve, reject) => {
    const open = indexedDB.open('ledgerline-sync');
    open.onerror = () => reject(open.error);
    open.onsuccess = (e) => {
      const db = e.target.result;
      if (!db.objectStoreNames.contains(store)) return resolve([]);
      db.transaction(store).objectStore(store).getAll().onsuccess = (g) => resolve(g.target.result.map((v) => JSON.parse(v)));
    };
  }), store);

  /** The template invoice's export record turned into `n` invoices with their own ids,
   * numbers and checksums: an export bundle for Data → Import. */
  function bundleOf(exported, n, prefix) {
    const template = exported.invoices[0];
    const invoices = [];
    for (let i = 0; i < n; i++) {
      const { id, version, updatedAt, checksum, ...content } = template;
      const c = { ...content, number: `${prefix}-${String(i + 1).padStart(4, '0')}`, notes: `bulk ${i}` };
      invoices.push({ id: `${prefix.toLowerCase()}-${String(i).padStart(5, '0')}`, ...c, version: 1, updatedAt, checksum: checksumOf(c) });
    }
    return { ...exported, invoices: [...exported.invoices, ...invoices] };
  }

  /** Imports `bundle` (an object) through Data → Import. */
  async function importBundle(page, bundle, name) {
    const file = path.join(os.tmpdir(), `ledgerline-${name}-${Date.now()}.json`);
    fs.writeFileSync(file, JSON.stringify(bundle));
    await nav(page, 'Data');
    await tid(page, 'import-file').setInputFiles(file);
    await tid(page, 'import-result').filter({ hasText: 'Imported' }).waitFor({ timeout: 30000 });
    fs.rmSync(file, { force: true });
  }

  return { signedIn, status, remote, rawItems, tombstones, putTombstone, putRemote, until, quickInvoice, editNotes, deleteInvoice, explain, syncStore, bundleOf, importBundle, checksumOf };
}

/** The app's checksum: FNV-1a 64 over the content's JSON. The content came from
 * DynamoDB or an export as serde wrote it, and JSON.parse/stringify keep its key order. */
export function checksumOf(content) {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(JSON.stringify(content))) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return 'fnv1a64:' + h.toString(16).padStart(16, '0');
}
