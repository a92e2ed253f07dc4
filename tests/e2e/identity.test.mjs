// Identity the app can trust (issue 11, R8.1, R8.4): the cloud worker takes the user
// from its own sealed session, whose ID token it checks (RS256 signature against the
// pool's JWKS with WebCrypto, issuer, audience, token use, expiry); the page's
// localStorage is only a hint. Against cognito-local (which serves its JWKS) and
// dynalite; tampered tokens come from a proxy in front of cognito-local that re-signs
// them with cognito-local's own key (shipped in its package) or breaks the signature.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { root, ready, tid, nav, addClient, download, folderPicker } from './helpers.mjs';
import { startCloudStack, kit, PASSWORD } from './cloud-stack.mjs';
import { jsonProxy } from '../support/json-proxy.mjs';

let stack;
before(async () => {
  stack = await startCloudStack('identity');
});
after(async () => {
  await stack?.stop();
});
beforeEach(async () => {
  await stack?.reset();
});
const { signedIn, status, remote, until, quickInvoice, syncStore } = kit(() => stack);

const SESSION_KEY = 'ledgerline/v1/session';
const keysHere = (page) => page.evaluate(() => Object.keys(localStorage));

test('a session forged in localStorage shows nothing of the other user and reaches nothing of theirs: the page follows the worker\'s sealed, checked session', async () => {
  const b = await signedIn('forged-b@ledgerline.test');
  await status(b.page, 'connected');
  await addClient(b.page, 'B private client');
  await quickInvoice(b.page, 'B private invoice');
  await until('B\'s invoice in DynamoDB', async () => (await remote(b.sub)).length === 1);
  const bBefore = await remote(b.sub);
  await b.close();

  // A signed in on this browser edits the session key to B's sub and reloads
  const a = await signedIn('forged-a@ledgerline.test');
  await status(a.page, 'connected');
  await a.page.evaluate(([k, sub]) => localStorage.setItem(k, JSON.stringify({ sub, email: 'forged-b@ledgerline.test' })), [SESSION_KEY, b.sub]);
  await a.page.reload();
  await ready(a.page);
  await tid(a.page, 'toast').filter({ hasText: 'This browser is signed in as forged-a@ledgerline.test: switched to that account.' }).waitFor();
  await nav(a.page, 'Account');
  assert.equal(await tid(a.page, 'account-email').textContent(), 'forged-a@ledgerline.test');
  await status(a.page, 'connected');
  // nothing of B here; B's partition as it was (counted with an independent client)
  assert.deepEqual((await keysHere(a.page)).filter((k) => k.includes(b.sub)), []);
  assert.equal(await a.page.evaluate(() => document.body.textContent.includes('B private invoice')), false);
  assert.deepEqual(await remote(b.sub), bBefore);
  await a.close();

  // a browser where nobody signed in: the forged key signs nobody in
  const { context, page } = await (async () => {
    const context = await stack.browser.newContext({ baseURL: stack.server.url });
    return { context, page: await context.newPage() };
  })();
  await page.goto(stack.server.url);
  await ready(page);
  await page.evaluate(([k, sub]) => localStorage.setItem(k, JSON.stringify({ sub, email: 'forged-b@ledgerline.test' })), [SESSION_KEY, b.sub]);
  await page.reload();
  await ready(page);
  await tid(page, 'toast').filter({ hasText: 'You are signed out: this browser holds no valid sign-in' }).waitFor();
  assert.equal(await page.evaluate((k) => localStorage.getItem(k), SESSION_KEY), null);
  await nav(page, 'Account');
  await tid(page, 'auth-signin').waitFor();
  assert.deepEqual((await keysHere(page)).filter((k) => k.includes(b.sub)), []);
  assert.deepEqual(await remote(b.sub), bBefore);
  await context.close();
});

// ---- tampered tokens -------------------------------------------------------------------

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const signingKey = JSON.parse(fs.readFileSync(path.join(root, 'node_modules/cognito-local/lib/keys/cognitoLocal.private.json'), 'utf8')).pem;

/** Re-signs `token` with cognito-local's key after `change(claims)`. */
function resign(token, change) {
  const [h, p] = token.split('.');
  const claims = change(JSON.parse(Buffer.from(p, 'base64url').toString('utf8')));
  const body = `${h}.${b64url(JSON.stringify(claims))}`;
  return `${body}.${b64url(crypto.sign('RSA-SHA256', Buffer.from(body), signingKey))}`;
}

/** A proxy in front of cognito-local whose ID tokens name it as their issuer (re-signed
 * with the pool's key), changed further by `mode`: 'signature' (one byte of the
 * signature flipped), 'audience' (another app client), 'expired' (an hour ago). */
async function tamperingProxy(target) {
  let mode = 'none';
  const refreshTokens = [];
  const server = await jsonProxy(target, {
    rewrite: (result) => {
      const id = result.AuthenticationResult?.IdToken;
      if (result.AuthenticationResult?.RefreshToken) refreshTokens.push(result.AuthenticationResult.RefreshToken);
      if (!id) return undefined;
      const now = Math.floor(Date.now() / 1000);
      let token = resign(id, (c) => ({
        ...c,
        iss: `${server.url}/${c.iss.split('/').pop()}`,
        ...(mode === 'audience' ? { aud: 'another-app-client' } : {}),
        ...(mode === 'expired' ? { iat: now - 7200, exp: now - 3600 } : {}),
      }));
      if (mode === 'signature') {
        const [h, p, s] = token.split('.');
        const sig = Buffer.from(s, 'base64url');
        sig[10] ^= 0xff;
        token = `${h}.${p}.${b64url(sig)}`;
      }
      result.AuthenticationResult.IdToken = token;
      return result;
    },
  });
  server.mode = (m) => { mode = m; };
  server.refreshTokens = refreshTokens;
  return server;
}

test('an ID token with a bad signature, for another app client or expired is refused with a clear message, and nobody is signed in', async () => {
  const proxy = await tamperingProxy(stack.cognito.endpoint);
  try {
    // signed in through the proxy (its tokens, re-signed, are good): the sign-in works
    const a = await signedIn('tampered@ledgerline.test');
    await nav(a.page, 'Account');
    await tid(a.page, 'auth-signout').click();
    await tid(a.page, 'auth-signin').waitFor();
    await tid(a.page, 'cognito-endpoint').fill(proxy.url);
    await tid(a.page, 'cognito-save').click();
    const signIn = async () => {
      await tid(a.page, 'auth-email').fill('tampered@ledgerline.test');
      await tid(a.page, 'auth-password').fill(PASSWORD);
      await tid(a.page, 'auth-signin').click();
    };
    for (const [mode, said] of [
      ['signature', "the ID token's signature is not valid"],
      ['audience', 'the ID token was issued for another app client'],
      ['expired', 'the ID token has expired'],
    ]) {
      proxy.mode(mode);
      await signIn();
      const message = tid(a.page, 'auth-message').and(a.page.locator('[data-state="error"]'));
      await message.waitFor();
      assert.match(await message.textContent(), new RegExp(`^Ledgerline did not accept the sign-in from Cognito: ${said}`), mode);
      assert.equal(await a.page.evaluate((k) => localStorage.getItem(k), SESSION_KEY), null, mode);
      assert.equal(await tid(a.page, 'account-email').count(), 0, mode);
    }
    proxy.mode('none');
    await signIn();
    await tid(a.page, 'account-email').waitFor();
    assert.equal(await tid(a.page, 'account-email').textContent(), 'tampered@ledgerline.test');
    await a.close();
  } finally {
    proxy.close();
  }
});

/** Every IndexedDB entry of the page's origin: [{db, store, key, value}] (values as text). */
const everyEntry = (page) => page.evaluate(async () => {
  const ask = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  const out = [];
  for (const { name } of await indexedDB.databases()) {
    const db = await ask(indexedDB.open(name));
    for (const store of db.objectStoreNames) {
      const keys = await ask(db.transaction(store).objectStore(store).getAllKeys());
      const values = await ask(db.transaction(store).objectStore(store).getAll());
      keys.forEach((k, i) => {
        const v = values[i];
        out.push({ db: name, store, key: String(k), value: typeof v === 'string' ? v : JSON.stringify(v) ?? String(v) });
      });
    }
    db.close();
  }
  return out;
});

test('"Sign out and remove my data": an export first when changes have not reached DynamoDB, then no key, IndexedDB record or cache entry of the user is left; DynamoDB untouched; the refresh token revoked', async () => {
  const proxy = await tamperingProxy(stack.cognito.endpoint);
  try {
    const a = await signedIn('remove-me@ledgerline.test', { create: true });
    // through the proxy from now on: it records the refresh token Cognito hands out
    await nav(a.page, 'Account');
    await tid(a.page, 'auth-signout').click();
    await tid(a.page, 'auth-message').filter({ hasText: 'Signed out' }).waitFor();
    await a.context.addInitScript(folderPicker);
    await a.page.reload();
    await ready(a.page);
    await nav(a.page, 'Account');
    await tid(a.page, 'cognito-endpoint').fill(proxy.url);
    await tid(a.page, 'cognito-save').click();
    await tid(a.page, 'auth-email').fill('remove-me@ledgerline.test');
    await tid(a.page, 'auth-password').fill(PASSWORD);
    await tid(a.page, 'auth-signin').click();
    await tid(a.page, 'account-email').waitFor();
    assert.equal(proxy.refreshTokens.length, 1);
    await status(a.page, 'connected');
    await addClient(a.page, 'Removal Client');
    await quickInvoice(a.page, 'Synced, stays in DynamoDB');
    await until('the invoice in DynamoDB', async () => (await remote(a.sub)).length === 1);
    const inDynamo = await remote(a.sub);
    // a backup, an export folder, log entries; then a change DynamoDB cannot take yet
    await nav(a.page, 'Data');
    await tid(a.page, 'backup-now').click();
    await tid(a.page, 'backup-row').first().waitFor();
    await nav(a.page, 'Settings');
    await tid(a.page, 'folder-choose').click();
    await tid(a.page, 'folder-message').waitFor();
    await stack.proxy.set({ mode: 'drop' });
    await quickInvoice(a.page, 'Not sent yet');
    await until('one change queued', async () => (await syncStore(a.page, 'queue')).length === 1);

    const sub = a.sub;
    const mine = (entries) => entries.filter((e) => e.key.includes(sub) || e.value.includes(sub));
    const before = mine(await everyEntry(a.page));
    const stores = new Set(before.map((e) => `${e.db}/${e.store}`));
    for (const s of ['ledgerline-sync/queue', 'ledgerline-sync/synced', 'ledgerline-backups/backups', 'ledgerline-log/ops', 'ledgerline-engine/context', 'ledgerline-folders/folders']) {
      assert.ok(stores.has(s), `before: ${s} holds the user's entries (${[...stores]})`);
    }
    assert.ok((await a.page.evaluate(() => Object.keys(localStorage))).some((k) => k.includes(sub)));

    // the app now points at another table: the change waits in the first table's queue,
    // which the removal takes too, so it still counts
    await nav(a.page, 'Settings');
    await tid(a.page, 'cloud-table').fill('another-table');
    await tid(a.page, 'cloud-config-save').click();
    await tid(a.page, 'cloud-config-message').filter({ hasText: 'saved' }).waitFor();

    // the panel: one change would be lost, so an export comes first
    await nav(a.page, 'Account');
    await tid(a.page, 'auth-signout-remove').click();
    await tid(a.page, 'remove-unsent').filter({ hasText: /^1 change has not reached DynamoDB yet and would be lost/ }).waitFor();
    assert.equal(await tid(a.page, 'remove-confirm').isDisabled(), true);
    const [file] = await Promise.all([a.page.waitForEvent('download'), tid(a.page, 'remove-export').click()]);
    const bundle = JSON.parse(fs.readFileSync(await file.path(), 'utf8'));
    assert.equal(bundle.invoices.length, 2, 'the export keeps the unsent change');
    await tid(a.page, 'remove-confirm').click();
    await tid(a.page, 'auth-message').filter({ hasText: "Signed out, and remove-me@ledgerline.test's data is removed from this browser (2 invoices" }).waitFor();
    await tid(a.page, 'auth-signin').waitFor();
    // credentials are the user's: signed out, this browser shows none
    await nav(a.page, 'Settings');
    assert.equal(await tid(a.page, 'cred-info').textContent(), 'No AWS credentials stored.');

    // nothing of the user is left: localStorage, IndexedDB (every database, every store),
    // Cache Storage; the sealed session gone
    assert.deepEqual((await a.page.evaluate(() => Object.keys(localStorage))).filter((k) => k.includes(sub)), []);
    assert.equal(await a.page.evaluate(() => localStorage.getItem('ledgerline/v1/session')), null);
    const after = await everyEntry(a.page);
    assert.deepEqual(mine(after), []);
    assert.equal(after.filter((e) => e.db === 'ledgerline-vault' && e.key === 'cognito-session').length, 0);
    const cached = await a.page.evaluate(async () => (await Promise.all((await caches.keys()).map(async (n) => (await (await caches.open(n)).keys()).map((r) => r.url)))).flat());
    assert.deepEqual(cached.filter((u) => u.includes(sub)), []);
    // DynamoDB as it was; the refresh token revoked: Cognito no longer renews with it
    await stack.proxy.set({ mode: 'pass' });
    assert.deepEqual(await remote(sub), inDynamo);
    const renewed = await stack.cognito.call('InitiateAuth', { AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: stack.pool.clientId, AuthParameters: { REFRESH_TOKEN: proxy.refreshTokens[0] } }).then(() => 'renewed', (e) => String(e));
    assert.match(renewed, /NotAuthorized/);
    await a.close();
  } finally {
    proxy.close();
  }
});
