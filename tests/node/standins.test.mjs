// The local AWS stand-ins and the fault proxy, exercised with the independent AWS SDK for JS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient, PutItemCommand, GetItemCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import { startDynalite, ensureTable, startCognito, ensurePool, TABLE, DEMO_USER, LOCAL_KEYS } from '../support/standins.mjs';
import { startFaultProxy } from '../support/fault-proxy.mjs';

let dynamo, cognito, proxy, dir;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ledgerline-standins-'));
  dynamo = await startDynalite({});
  await ensureTable(dynamo.endpoint);
  cognito = await startCognito({ dir: path.join(dir, 'cognito') });
  proxy = await startFaultProxy({ target: dynamo.endpoint });
});
after(async () => {
  await proxy?.close();
  await dynamo?.stop();
  await cognito?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const client = (endpoint) => new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_KEYS, maxAttempts: 1 });

test('dynalite has the invoices table keyed by userId and invoiceId', async () => {
  const d = await client(dynamo.endpoint).send(new DescribeTableCommand({ TableName: TABLE }));
  assert.deepEqual(d.Table.KeySchema, [{ AttributeName: 'userId', KeyType: 'HASH' }, { AttributeName: 'invoiceId', KeyType: 'RANGE' }]);
  assert.equal(d.Table.TableStatus, 'ACTIVE');
  await ensureTable(dynamo.endpoint); // idempotent
});

test('cognito-local: preset pool and client; the demo user signs in and gets real JWTs', async () => {
  const stateFile = path.join(dir, 'pool.json');
  const pool = await ensurePool(cognito, stateFile);
  assert.deepEqual(await ensurePool(cognito, stateFile), pool); // reused, not recreated
  const idp = new CognitoIdentityProviderClient({ endpoint: cognito.endpoint, region: 'us-east-1', credentials: LOCAL_KEYS });
  const r = await idp.send(new InitiateAuthCommand({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: pool.clientId, AuthParameters: { USERNAME: DEMO_USER.username, PASSWORD: DEMO_USER.password } }));
  const [, payload] = r.AuthenticationResult.IdToken.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  assert.match(claims.sub, /^[0-9a-f-]{36}$/);
  assert.ok(r.AuthenticationResult.RefreshToken);
});

test('fault proxy forwards, injects each error class, drops, counts', async () => {
  const db = client(proxy.url);
  const item = { userId: { S: 'u1' }, invoiceId: { S: 'i1' }, version: { N: '1' } };
  await db.send(new PutItemCommand({ TableName: TABLE, Item: item }));
  const got = await db.send(new GetItemCommand({ TableName: TABLE, Key: { userId: { S: 'u1' }, invoiceId: { S: 'i1' } } }));
  assert.equal(got.Item.version.N, '1');
  for (const [mode, name] of [['expired', 'ExpiredTokenException'], ['invalid', 'UnrecognizedClientException'], ['throttle', 'ProvisionedThroughputExceededException'], ['5xx', 'InternalServerError'], ['denied', 'AccessDeniedException']]) {
    await proxy.set({ mode, times: 1 });
    await assert.rejects(db.send(new DescribeTableCommand({ TableName: TABLE })), (e) => e.name === name, mode);
  }
  await proxy.set({ mode: 'drop', times: 1 });
  await assert.rejects(db.send(new DescribeTableCommand({ TableName: TABLE })));
  await db.send(new DescribeTableCommand({ TableName: TABLE })); // back to pass after `times`
  const pre = await fetch(proxy.url, { method: 'OPTIONS' });
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  const s = await proxy.stats();
  assert.equal(s.byTarget.PutItem, 1);
  assert.ok(s.requests >= 9);
});
