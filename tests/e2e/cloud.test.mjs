// Settings → DynamoDB: credentials vault, connection test and error classes, against a
// real dynalite behind the fault proxy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { launchBrowser, newPage } from '../support/browser.mjs';
import { startDynalite, ensureTable, TABLE } from '../support/standins.mjs';
import { startFaultProxy } from '../support/fault-proxy.mjs';
import { dist, ready, tid, nav, dumpStorage, download } from './helpers.mjs';

// Shaped like AWS Academy credentials; the documented AWS example values, not real keys.
const KEY_ID = 'ASIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLE/TOKEN+'.repeat(12) + '==';
const BLOCK = `[default]\r\naws_access_key_id = ${KEY_ID}\r\naws_secret_access_key=${SECRET}\r\n  aws_session_token=${TOKEN}  \r\n`;

let server, browser, dynamo, proxy;
before(async () => {
  dynamo = await startDynalite({});
  await ensureTable(dynamo.endpoint);
  proxy = await startFaultProxy({ target: dynamo.endpoint });
  server = await startServer({ root: dist });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.close();
  await proxy?.close();
  await dynamo?.stop();
});

async function configure(page, { endpoint = proxy.url, table = TABLE } = {}) {
  await nav(page, 'Settings');
  await tid(page, 'cloud-endpoint').fill(endpoint);
  await tid(page, 'cloud-table').fill(table);
  await tid(page, 'cloud-config-save').click();
  await tid(page, 'cloud-config-message').filter({ hasText: 'saved' }).waitFor();
}

async function result(page) {
  const r = tid(page, 'cloud-result');
  await page.waitForFunction(() => {
    const el = document.querySelector('[data-testid="cloud-result"]');
    return el && el.dataset.class !== 'busy';
  }, null, { timeout: 30000 });
  return { cls: await r.getAttribute('data-class'), text: await r.textContent() };
}

test('garbage credentials get a specific message and nothing is stored', async () => {
  const { context, page } = await open();
  await configure(page);
  await tid(page, 'cred-block').fill(`aws_access_key_id=${KEY_ID}\naws_secret_access_key=${SECRET}\n`);
  await tid(page, 'cred-save').click();
  let r = await result(page);
  assert.equal(r.cls, 'invalid-input');
  assert.match(r.text, /session token is missing/);
  await tid(page, 'cred-block').fill(`aws_access_key_id=${KEY_ID}\naws_secret_access_key=${SECRET.slice(0, 30)}\naws_session_token=${TOKEN}`);
  await tid(page, 'cred-save').click();
  r = await result(page);
  assert.match(r.text, /has 30 characters; AWS secret keys have 40/);
  await tid(page, 'cred-block').fill('hello there');
  await tid(page, 'cred-save').click();
  r = await result(page);
  assert.match(r.text, /Line 1 is not a 'name = value' line/);
  await tid(page, 'cred-block').fill(`aws_access_key_id=XYZ\naws_secret_access_key=${SECRET}\naws_session_token=${TOKEN}`);
  await tid(page, 'cred-save').click();
  r = await result(page);
  assert.match(r.text, /does not look like an AWS key id/);
  assert.equal(await tid(page, 'cred-info').textContent(), 'No AWS credentials stored.');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('first use with rejected credentials says "invalid"; a good Academy block connects; secrets stay out of localStorage and exports', async () => {
  const { context, page } = await open();
  await configure(page);
  await proxy.set({ mode: 'invalid', times: 1 });
  await tid(page, 'cred-block').fill(BLOCK);
  await tid(page, 'cred-save').click();
  let r = await result(page);
  assert.equal(r.cls, 'credentials invalid');
  assert.match(r.text, /AWS did not accept these credentials/);

  await tid(page, 'cred-block').fill(BLOCK);
  await tid(page, 'cred-save').click();
  r = await result(page);
  assert.equal(r.cls, 'connected', r.text);
  assert.match(r.text, new RegExp(`table ${TABLE} is ACTIVE`));
  assert.match(await tid(page, 'cred-info').textContent(), /key ASIA…MPLE \(temporary, AWS Academy\), entered 0 min ago/);
  // the form was emptied; nothing secret in localStorage, the export, or the IndexedDB plaintext
  assert.equal(await tid(page, 'cred-block').inputValue(), '');
  const everything = JSON.stringify(await page.evaluate(() => ({ ...localStorage })));
  for (const s of [SECRET, TOKEN.slice(0, 40), KEY_ID]) assert.ok(!everything.includes(s), 'localStorage leaks a credential');
  await nav(page, 'Data');
  const exported = await download(page, 'export-json');
  for (const s of [SECRET, TOKEN.slice(0, 40), KEY_ID]) assert.ok(!exported.text.includes(s), 'export leaks a credential');
  const raw = await page.evaluate(() => new Promise((resolve, reject) => {
    const req = indexedDB.open('ledgerline-vault');
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const tx = req.result.transaction('vault');
      // signed out: the credentials are anonymous's (each user of the browser has their own)
      const get = tx.objectStore('vault').get('aws-credentials|anonymous');
      get.onsuccess = () => resolve({ data: Array.from(get.result.data), meta: get.result.meta, keyType: String(tx.objectStore('vault').get('aes-key') && 'ok') });
    };
  }));
  const bytes = Buffer.from(raw.data).toString('latin1');
  assert.ok(!bytes.includes(SECRET) && !bytes.includes(KEY_ID), 'the vault holds plaintext');
  assert.ok(!raw.meta.includes(SECRET));
  const key = await page.evaluate(() => new Promise((resolve) => {
    indexedDB.open('ledgerline-vault').onsuccess = (e) => {
      e.target.result.transaction('vault').objectStore('vault').get('aes-key').onsuccess = (g) => resolve({ type: g.target.result.type, extractable: g.target.result.extractable, alg: g.target.result.algorithm.name });
    };
  }));
  assert.deepEqual(key, { type: 'secret', extractable: false, alg: 'AES-GCM' });
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('each failure class gets its own message: expired, throttled, 5xx, access denied, table missing (then created), server stopped', async () => {
  const { context, page } = await open();
  await configure(page);
  await tid(page, 'cred-block').fill(BLOCK);
  await tid(page, 'cred-save').click();
  assert.equal((await result(page)).cls, 'connected');

  const expect = async (mode, cls, re) => {
    // a fault for every request until the check answered: the browser may retry a dropped connection
    await proxy.set({ mode });
    await tid(page, 'cloud-test').click();
    const r = await result(page);
    await proxy.set({ mode: 'pass' });
    assert.equal(r.cls, cls, `${mode}: ${r.text}`);
    assert.match(r.text, re);
  };
  await expect('expired', 'credentials expired', /expired.*AWS Details/s);
  // after having worked, an unrecognized client means the Academy session ended
  await expect('invalid', 'credentials expired', /AWS Academy sessions last about 4 hours/);
  await expect('throttle', 'throttled', /throttling/);
  await expect('5xx', 'service unavailable', /server error \(5xx\)/);
  await expect('denied', 'access denied', /not allowed to use this DynamoDB table/);
  await expect('drop', 'network unreachable', /CORS/);

  await configure(page, { table: 'ledgerline-other' });
  await tid(page, 'cloud-test').click();
  let r = await result(page);
  assert.equal(r.cls, 'table missing');
  await tid(page, 'create-table').click();
  r = await result(page);
  assert.equal(r.cls, 'connected', r.text);
  assert.match(r.text, /table ledgerline-other is ACTIVE/);

  // the real server process stopped: network unreachable, with what to do
  await configure(page, { endpoint: 'http://127.0.0.1:9' });
  await tid(page, 'cloud-test').click();
  r = await result(page);
  assert.equal(r.cls, 'network unreachable');
  assert.match(r.text, /Keep working: everything is saved in this browser/);
  assert.deepEqual(page.errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(e)), []);
  await context.close();
});

async function open() {
  const { context, page } = await newPage(browser, server.url);
  await page.goto(server.url);
  await ready(page);
  return { context, page };
}
