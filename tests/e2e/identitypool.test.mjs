// AWS credentials from a Cognito identity pool (issue 11, the deploy/ mode): signed in,
// the app asks the pool for the user's temporary credentials (GetId, then
// GetCredentialsForIdentity with the ID token as the login), signs DynamoDB requests with
// them (the fault proxy checks the signatures) and asks again before they expire;
// nothing is pasted. Against moto (cognito-identity and DynamoDB) and cognito-local.
// Where moto differs from AWS: it does not check the login token, hands every identity
// the same fixed keys valid 90 s (AWS: per identity, an hour), and enforces no IAM, so the
// LeadingKeys role of deploy/ is asserted on the template (tests/node/deploy.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tid, nav, addClient, ready, rows } from './helpers.mjs';
import { startCloudStack, kit } from './cloud-stack.mjs';
import { awsCall, MOTO_IDENTITY_KEYS } from '../support/standins.mjs';
import { jsonProxy } from '../support/json-proxy.mjs';

let stack;
before(async () => {
  stack = await startCloudStack('identitypool', { server: 'moto' });
});
after(async () => {
  await stack?.stop();
});
const { signedIn, status, remote, until, quickInvoice, rawItems } = kit(() => stack);

/** A counting proxy in front of moto's cognito-identity: {url, calls: {target: n},
 * refuse}; while `refuse` is set, GetId is answered as AWS answers a login from a user
 * pool the identity pool does not trust. */
async function countingProxy(target) {
  const calls = {};
  const proxy = { calls, refuse: false };
  const server = await jsonProxy(target, {
    onRequest: (req) => {
      const op = req.headers['x-amz-target'];
      if (op) calls[op] = (calls[op] ?? 0) + 1;
    },
    answer: (req) => (proxy.refuse && req.headers['x-amz-target'] === 'AWSCognitoIdentityService.GetId'
      ? { status: 400, json: { __type: 'NotAuthorizedException', message: "Invalid login token. Issuer doesn't match providerName" } }
      : undefined),
  });
  return Object.assign(proxy, { url: server.url, close: () => server.close() });
}

test('signed in with an identity pool: no credentials pasted, each request signed with the pool\'s temporary credentials, asked again before they expire', async () => {
  const { pool, proxy } = stack;
  const idPool = await awsCall(stack.dynamo.endpoint, 'AWSCognitoIdentityService.CreateIdentityPool', {
    IdentityPoolName: 'ledgerline', AllowUnauthenticatedIdentities: false,
    CognitoIdentityProviders: [{ ProviderName: `cognito-idp.us-east-1.amazonaws.com/${pool.userPoolId}`, ClientId: pool.clientId }],
  }, { jsonVersion: '1.1', service: 'cognito-identity' });
  assert.match(idPool.IdentityPoolId, /^us-east-1:/);
  const identity = await countingProxy(stack.dynamo.endpoint);
  const { page, sub, close } = await signedIn('pool-user@ledgerline.test', { identityPool: { id: idPool.IdentityPoolId, endpoint: identity.url } });
  // the pool id is checked when saved; Settings says where the credentials come from
  await tid(page, 'cognito-identity-pool').fill('not-a-pool-id');
  await tid(page, 'cognito-save').click();
  await tid(page, 'auth-message').filter({ hasText: "'not-a-pool-id' is not an identity pool id" }).waitFor();
  await tid(page, 'cognito-identity-pool').fill(idPool.IdentityPoolId);
  await tid(page, 'cognito-save').click();
  await nav(page, 'Settings');
  assert.match(await tid(page, 'cred-identity-pool').textContent(), /your AWS credentials come from the identity pool/);
  assert.equal(await tid(page, 'cred-info').textContent(), 'No AWS credentials stored.');
  await status(page, 'connected');
  assert.ok(identity.calls['AWSCognitoIdentityService.GetId'] >= 1);
  assert.ok(identity.calls['AWSCognitoIdentityService.GetCredentialsForIdentity'] >= 1);

  // a save reaches DynamoDB, signed with the pool's keys (the fault proxy checked them)
  const before = (await rawItems(sub)).length;
  await addClient(page, 'Pool Client');
  await quickInvoice(page, 'Through the identity pool');
  await until('the invoice in DynamoDB', async () => (await remote(sub)).length === 1);
  const [item] = await remote(sub);
  assert.equal(item.content.lines[0].description, 'Through the identity pool');
  assert.equal(item.version, 1);
  assert.ok((await rawItems(sub)).length > before);
  const stats = await (await fetch(`${proxy.url}/__stats`)).json();
  assert.ok(stats.answered && Object.values(stats.answered).some((n) => n > 0), 'DynamoDB answered signed requests');
  // nothing was pasted: no credentials in the vault
  const vaultKeys = await page.evaluate(() => new Promise((resolve) => {
    indexedDB.open('ledgerline-vault').onsuccess = (e) => {
      e.target.result.transaction('vault').objectStore('vault').getAllKeys().onsuccess = (g) => resolve(g.target.result.map(String));
    };
  }));
  assert.deepEqual(vaultKeys.filter((k) => k.startsWith('aws-credentials')), []);

  // moto's keys last 90 s: asked again a minute before they expire, and the next save goes
  const asked = identity.calls['AWSCognitoIdentityService.GetCredentialsForIdentity'];
  await new Promise((r) => setTimeout(r, 35_000));
  await quickInvoice(page, 'After renewal');
  await until('the second invoice in DynamoDB', async () => (await remote(sub)).length === 2);
  assert.ok(identity.calls['AWSCognitoIdentityService.GetCredentialsForIdentity'] > asked, 'the credentials were asked for again');
  assert.equal(MOTO_IDENTITY_KEYS.accessKeyId, 'TESTACCESSKEY12345');

  // the identity pool refuses the sign-in (as AWS does when it does not trust the user
  // pool's app client): the page says to sign in again and what to check, never to paste
  // keys, sends nothing, and every invoice stays
  identity.refuse = true;
  const sent = (await remote(sub)).length;
  await page.reload();
  await ready(page);
  const banner = tid(page, 'session-expired');
  await banner.filter({ hasText: 'The identity pool refused AWS credentials for this sign-in' }).waitFor({ timeout: 20000 });
  assert.match(await banner.textContent(), /Issuer doesn't match providerName.*IdentityPoolId output.*untouched/);
  assert.doesNotMatch(await banner.textContent(), /paste|AWS Details/);
  await status(page, 'signed-out');
  await quickInvoice(page, 'Kept while refused');
  assert.equal((await rows(page)).length, 3);
  assert.equal((await remote(sub)).length, sent);
  assert.deepEqual(page.errors.filter((e) => !/Failed to load resource/.test(e)), []);
  await close();
  identity.close();
});
