// Accounts (cognito-local) and the live connection to DynamoDB (dynalite behind the
// fault proxy), checked with an independent client: the AWS SDK for JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { newPage } from '../support/browser.mjs';
import { TABLE } from '../support/standins.mjs';
import { ready, tid, nav, addClient, newInvoice, rows, download } from './helpers.mjs';
import { startCloudStack, kit, KEY_ID, SECRET, TOKEN, BLOCK, PASSWORD } from './cloud-stack.mjs';

let stack, server, browser, proxy, cognito, pool, db;
before(async () => {
  stack = await startCloudStack('accounts');
  ({ server, browser, proxy, cognito, pool, db } = stack);
});
after(async () => {
  await stack?.stop();
});
const { until } = kit(() => stack);

async function open() {
  const { context, page } = await newPage(browser, server.url);
  await page.goto(server.url);
  await ready(page);
  return { context, page };
}

/** Points the app at the local Cognito and DynamoDB (through the proxy) and stores credentials. */
async function configure(page, { interval = '30' } = {}) {
  await nav(page, 'Account');
  await tid(page, 'cognito-pool').fill(pool.userPoolId);
  await tid(page, 'cognito-client').fill(pool.clientId);
  await tid(page, 'cognito-endpoint').fill(cognito.endpoint);
  await tid(page, 'cognito-save').click();
  await tid(page, 'auth-message').filter({ hasText: 'User pool settings saved' }).waitFor();
  await nav(page, 'Settings');
  await tid(page, 'cloud-endpoint').fill(proxy.url);
  await tid(page, 'cloud-interval').fill(interval);
  await tid(page, 'cloud-config-save').click();
  await tid(page, 'cloud-config-message').filter({ hasText: 'saved' }).waitFor();
  await tid(page, 'cred-block').fill(BLOCK);
  await tid(page, 'cred-save').click();
  await page.waitForSelector('[data-testid="cloud-result"][data-class="connected"]', { timeout: 30000 });
}

/** Signs up through the UI, confirms with the code cognito-local prints, returns nothing. */
async function signUpInUi(page, email) {
  await nav(page, 'Account');
  await tid(page, 'auth-email').fill(email);
  await tid(page, 'auth-password').fill(PASSWORD);
  await tid(page, 'auth-signup').click();
  await tid(page, 'auth-message').filter({ hasText: 'enter the confirmation code' }).waitFor();
  const code = await waitForCode(email);
  await tid(page, 'auth-code').fill(code);
  await tid(page, 'auth-confirm').click();
  await tid(page, 'auth-message').filter({ hasText: 'Account confirmed' }).waitFor();
}

async function waitForCode(email) {
  for (let i = 0; i < 50; i++) {
    const log = cognito.log().replace(/\x1b\[[0-9;]*m/g, '');
    const at = log.lastIndexOf(`Destination: ${email}`);
    const m = at >= 0 && /Code:\s+(\d+)/.exec(log.slice(at));
    if (m) return m[1];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no confirmation code for ${email} in cognito-local's log`);
}

async function newUser(email) {
  await cognito.call('SignUp', { ClientId: pool.clientId, Username: email, Password: PASSWORD, UserAttributes: [{ Name: 'email', Value: email }] });
  await cognito.call('AdminConfirmSignUp', { UserPoolId: pool.userPoolId, Username: email });
}

async function signIn(page, email, password = PASSWORD) {
  await nav(page, 'Account');
  await tid(page, 'auth-email').fill(email);
  await tid(page, 'auth-password').fill(password);
  await tid(page, 'auth-signin').click();
  await tid(page, 'account-email').filter({ hasText: email }).waitFor();
  const text = await tid(page, 'account-info').textContent();
  return /User id \(DynamoDB partition\): ([0-9a-f-]{36})/.exec(text)[1];
}

async function signOut(page) {
  await nav(page, 'Account');
  await tid(page, 'auth-signout').click();
  await page.waitForSelector('[data-testid="storage-status"][data-state="anonymous"]');
}

async function status(page, state, timeout = 15000) {
  await page.waitForSelector(`[data-testid="storage-status"][data-state="${state}"]`, { timeout });
}

async function remote(sub) {
  const r = await db.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': { S: sub } } }));
  return r.Items.filter((i) => !i.deleted?.BOOL && !i.invoiceId.S.startsWith('#')).map((i) => ({ userId: i.userId.S, number: i.number.S, version: Number(i.version.N), content: JSON.parse(i.content.S) }));
}

async function remoteHas(sub, count) {
  for (let i = 0; i < 100; i++) {
    const items = await remote(sub);
    if (items.length === count) return items;
    await new Promise((r) => setTimeout(r, 100));
  }
  return remote(sub);
}

test('two users: each sees only their own invoices, in the UI, exports and DynamoDB', async () => {
  const { context, page } = await open();
  await configure(page);
  await signUpInUi(page, 'alice@ledgerline.test');
  // a wrong password gets a clear message
  await tid(page, 'auth-email').fill('alice@ledgerline.test');
  await tid(page, 'auth-password').fill('not-it');
  await tid(page, 'auth-signin').click();
  assert.match(await tid(page, 'auth-message').filter({ hasText: 'Wrong' }).textContent(), /Wrong email or password/);
  const alice = await signIn(page, 'alice@ledgerline.test');
  await status(page, 'connected');
  await addClient(page, 'Alice Client');
  await newInvoice(page, { client: 'Alice Client', lines: [{ desc: 'Alice work', qty: '1', price: '100' }] });
  let items = await remoteHas(alice, 1);
  assert.equal(items.length, 1);
  assert.equal(items[0].userId, alice);
  assert.equal(items[0].content.lines[0].description, 'Alice work');

  await signOut(page);
  assert.equal(await tid(page, 'invoice-row').count(), 0, 'anonymous mode shows none of alice\'s invoices');

  await newUser('bob@ledgerline.test');
  const bob = await signIn(page, 'bob@ledgerline.test');
  assert.notEqual(bob, alice);
  // AWS credentials are alice's: bob sees none of hers, and pastes his own
  await nav(page, 'Settings');
  assert.equal(await tid(page, 'cred-info').textContent(), 'No AWS credentials stored.');
  await tid(page, 'cred-block').fill(BLOCK);
  await tid(page, 'cred-save').click();
  await page.waitForSelector('[data-testid="cloud-result"][data-class="connected"]', { timeout: 30000 });
  await nav(page, 'Invoices');
  assert.equal(await tid(page, 'invoice-row').count(), 0, 'bob sees none of alice\'s invoices');
  await nav(page, 'Clients');
  assert.equal(await tid(page, 'client-row').count(), 0);
  await addClient(page, 'Bob Client');
  await newInvoice(page, { client: 'Bob Client', lines: [{ desc: 'Bob work', qty: '2', price: '10' }] });
  items = await remoteHas(bob, 1);
  assert.equal(items[0].userId, bob);
  assert.equal(items[0].content.lines[0].description, 'Bob work');
  assert.equal((await remote(alice)).length, 1);
  await nav(page, 'Data');
  const exported = JSON.parse((await download(page, 'export-json')).text);
  assert.deepEqual(exported.invoices.map((i) => i.lines[0].description), ['Bob work']);
  assert.deepEqual(exported.clients.map((c) => c.name), ['Bob Client']);

  // back to alice: her invoice, not bob's
  await signOut(page);
  await signIn(page, 'alice@ledgerline.test');
  await nav(page, 'Invoices');
  assert.deepEqual((await rows(page)).map((r) => r.client), ['Alice Client']);
  // a reload stays signed in
  await page.reload();
  await ready(page);
  await status(page, 'connected');
  assert.deepEqual((await rows(page)).map((r) => r.client), ['Alice Client']);
  assert.deepEqual(page.errors, []);
  await context.close();
});

/** Sets the business profile's name in Settings. */
async function profileName(page, name) {
  await nav(page, 'Settings');
  await tid(page, 'profile-name').fill(name);
  await tid(page, 'profile-save').click();
  await tid(page, 'profile-message').filter({ hasText: 'saved' }).waitFor();
}

/** DynamoDB's profile record of `sub` (null: none). */
async function remoteProfile(sub) {
  const r = await db.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': { S: sub } } }));
  const p = r.Items.find((i) => i.invoiceId.S === '#profile' && !i.deleted?.BOOL);
  return p ? JSON.parse(p.content.S) : null;
}

test('anonymous invoices: kept anonymous when declined, moved (and uploaded) when accepted; a differing profile is kept for review', async () => {
  const { context, page } = await open();
  await configure(page);
  await profileName(page, 'Anon Studio');
  await addClient(page, 'Walk-in');
  await newInvoice(page, { client: 'Walk-in', lines: [{ desc: 'Anonymous work', qty: '1', price: '5' }] });
  await newUser('carol@ledgerline.test');
  const carol = await signIn(page, 'carol@ledgerline.test');
  assert.match(await tid(page, 'move-offer').textContent(), /1 invoice from anonymous mode is in this browser/);
  await tid(page, 'move-decline').click();
  assert.equal(await tid(page, 'move-offer').count(), 0);
  await nav(page, 'Invoices');
  assert.equal(await tid(page, 'invoice-row').count(), 0);
  assert.equal((await remote(carol)).length, 0);
  // the same client, entered in the account too, and the account's own profile
  await addClient(page, 'Walk-in');
  await profileName(page, 'Carol Consulting');
  await until('the account\'s profile in DynamoDB', async () => (await remoteProfile(carol))?.profile?.name === 'Carol Consulting', 65000);
  await signOut(page);
  await nav(page, 'Invoices');
  assert.deepEqual((await rows(page)).map((r) => r.client), ['Walk-in'], 'declined: still anonymous');

  await signIn(page, 'carol@ledgerline.test');
  await tid(page, 'move-accept').click();
  const toast = tid(page, 'toast').filter({ hasText: 'Moved 1 invoices into your account' });
  await toast.waitFor();
  assert.match(await toast.textContent(), /Clients that were in both are kept once.*Walk-in/);
  assert.match(await toast.textContent(), /account's business profile is kept; this browser's \(Anon Studio\) differed and is on the Conflicts page/);
  await nav(page, 'Settings');
  assert.equal(await tid(page, 'profile-name').inputValue(), 'Carol Consulting', 'the account\'s profile stays');
  // nothing dropped: anonymous mode's profile is there to review, and can be restored
  await page.getByRole('link', { name: 'Conflicts (1)' }).click();
  const card = tid(page, 'conflict').filter({ hasText: 'from anonymous mode' });
  await card.waitFor();
  assert.match(await card.textContent(), /Anon Studio/);
  assert.match(await card.textContent(), /Carol Consulting/);
  await card.getByTestId('conflict-restore-mine').click();
  await tid(page, 'conflicts-note').filter({ hasText: 'Restored your business profile' }).waitFor();
  await nav(page, 'Settings');
  assert.equal(await tid(page, 'profile-name').inputValue(), 'Anon Studio');
  await until('the restored profile in DynamoDB', async () => (await remoteProfile(carol))?.profile?.name === 'Anon Studio', 65000);
  await nav(page, 'Invoices');
  assert.deepEqual((await rows(page)).map((r) => r.client), ['Walk-in']);
  const clients = await page.evaluate((sub) => Object.keys(localStorage)
    .filter((k) => k.startsWith(`ledgerline/v1/${sub}/client/`))
    .map((k) => JSON.parse(localStorage.getItem(k))), carol);
  assert.equal(clients.length, 1, 'Walk-in once in the account');
  const items = await remoteHas(carol, 1);
  assert.equal(items[0].content.lines[0].description, 'Anonymous work');
  assert.equal(items[0].content.clientId, clients[0].id, 'the moved invoice names the account\'s client');
  await signOut(page);
  await nav(page, 'Invoices');
  assert.equal(await tid(page, 'invoice-row').count(), 0, 'moved: no longer anonymous');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('connection manager: expired credentials prompt; stopped server -> local only and back; throttling and 5xx', async () => {
  const { context, page } = await open();
  await configure(page, { interval: '1' });
  await newUser('dave@ledgerline.test');
  await signIn(page, 'dave@ledgerline.test');
  await status(page, 'connected');

  await proxy.set({ mode: 'expired' });
  await status(page, 'expired', 10000);
  assert.match(await tid(page, 'renew-prompt').textContent(), /AWS Details → Show/);
  await proxy.set({ mode: 'pass' });
  await nav(page, 'Settings');
  await tid(page, 'cred-block').fill(BLOCK);
  await tid(page, 'cred-save').click();
  await status(page, 'connected');

  for (const [mode, label] of [['throttle', 'throttled'], ['5xx', 'service unavailable']]) {
    await proxy.set({ mode });
    await page.waitForSelector(`[data-testid="storage-status"]:has-text("Local only · ${label}")`, { timeout: 10000 });
    assert.match(await tid(page, 'local-only-banner').textContent(), /Working locally/);
    await proxy.set({ mode: 'pass' });
    await status(page, 'connected', 10000);
  }

  // the real server process stops: local only within one check interval, work goes on
  await stack.dynamo.stop();
  await status(page, 'local', 10000);
  assert.match(await tid(page, 'storage-status').textContent(), /network unreachable/);
  assert.match(await tid(page, 'local-only-banner').textContent(), /Export a backup/);
  await addClient(page, 'Offline Co');
  await newInvoice(page, { client: 'Offline Co', lines: [{ desc: 'Saved while offline', qty: '1', price: '1' }] });
  assert.equal(await tid(page, 'invoice-row').count(), 1);
  await stack.restartDynamo();
  await status(page, 'connected', 10000);
  assert.deepEqual(page.errors.filter((e) => !/Failed to load resource/.test(e)), []);
  await context.close();
});

test('storage log: local and remote operations with outcome, duration and class; per user; exportable without secrets', async () => {
  const { context, page } = await open();
  await configure(page);
  await newUser('erin@ledgerline.test');
  const erin = await signIn(page, 'erin@ledgerline.test');
  await status(page, 'connected');
  await addClient(page, 'Log Client');
  await newInvoice(page, { client: 'Log Client', lines: [{ desc: 'Logged', qty: '1', price: '1' }] });
  await remoteHas(erin, 1);
  await proxy.set({ mode: 'throttle' });
  await nav(page, 'Settings');
  await tid(page, 'cloud-test').click();
  await page.waitForSelector('[data-testid="cloud-result"][data-class="throttled"]');
  await proxy.set({ mode: 'pass' });

  await nav(page, 'Data');
  await tid(page, 'log-show').click();
  await tid(page, 'log-table').waitFor();
  const log = await tid(page, 'log-row').evaluateAll((trs) => trs.map((tr) => ({ kind: tr.dataset.kind, outcome: tr.dataset.outcome, text: tr.textContent })));
  const kinds = new Set(log.map((l) => l.kind));
  for (const k of ['auth.signIn', 'remote.check', 'local.save', 'queue.add', 'remote.replay']) assert.ok(kinds.has(k), `log has ${k}: ${[...kinds]}`);
  // the credentials were saved before erin signed in: that is the anonymous user's log
  assert.ok(!kinds.has('credentials.save'), `erin's log holds what was done before her sign-in: ${[...kinds]}`);
  assert.ok(log.some((l) => l.kind === 'remote.check' && l.outcome === 'failed' && /throttled/.test(l.text)));
  assert.ok(log.some((l) => l.kind === 'remote.replay' && l.outcome === 'ok' && /1 sent/.test(l.text)));
  const exported = await download(page, 'log-export');
  const entries = JSON.parse(exported.text);
  assert.ok(entries.length >= 5);
  for (const s of [SECRET, TOKEN.slice(0, 40), KEY_ID, PASSWORD]) assert.ok(!exported.text.includes(s), 'the log leaks a secret');
  const erinInvoice = entries.find((e) => e.kind === 'local.save').invoiceId;

  // another user does not see erin's operations
  await signOut(page);
  await nav(page, 'Data');
  await tid(page, 'log-show').click();
  await tid(page, 'log-table').waitFor();
  const anon = await tid(page, 'log-table').textContent();
  assert.ok(!anon.includes(erinInvoice), 'anonymous mode sees erin\'s invoice ids');
  const anonKinds = new Set(await tid(page, 'log-row').evaluateAll((trs) => trs.map((tr) => tr.dataset.kind)));
  assert.ok(anonKinds.has('credentials.save'), `what was done signed out is in the anonymous log: ${[...anonKinds]}`);
  for (const k of ['auth.signIn', 'auth.signOut', 'queue.add', 'remote.replay']) assert.ok(!anonKinds.has(k), `anonymous mode sees erin's ${k}`);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('an ended sign-in (refresh refused) asks to sign in again and leaves local data alone', async () => {
  const { context, page } = await open();
  await configure(page);
  await newUser('frank@ledgerline.test');
  await signIn(page, 'frank@ledgerline.test');
  await status(page, 'connected');
  await addClient(page, 'Frank Client');
  await newInvoice(page, { client: 'Frank Client', lines: [{ desc: 'Kept', qty: '1', price: '1' }] });
  // the account is removed on the server: its refresh token no longer works
  await cognito.call('AdminDeleteUser', { UserPoolId: pool.userPoolId, Username: 'frank@ledgerline.test' });
  await page.reload();
  await ready(page);
  await tid(page, 'session-expired').waitFor({ timeout: 15000 });
  assert.match(await tid(page, 'session-expired').textContent(), /sign-in has expired: sign in again.*untouched/);
  await status(page, 'signed-out');
  assert.deepEqual((await rows(page)).map((r) => r.client), ['Frank Client']);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('the browser going offline and online triggers a check at once (not waiting for the 30 s interval)', async () => {
  const { context, page } = await open();
  await configure(page, { interval: '30' });
  await newUser('gina@ledgerline.test');
  await signIn(page, 'gina@ledgerline.test');
  await status(page, 'connected');
  await context.setOffline(true);
  await status(page, 'local', 8000);
  await context.setOffline(false);
  await status(page, 'connected', 8000);
  await context.close();
});
