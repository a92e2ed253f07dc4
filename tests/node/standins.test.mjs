// The local AWS stand-ins and the fault proxy, exercised with the independent AWS SDK for JS.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient, PutItemCommand, GetItemCommand, DescribeTableCommand, TransactWriteItemsCommand, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import { startDynalite, startMoto, ensureTable, startCognito, ensurePool, signV4, TABLE, DEMO_USER, LOCAL_KEYS } from '../support/standins.mjs';
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

// moto's server mode: the DynamoDB stand-in with TransactWriteItems (dynalite has none).
describe('moto', () => {
  let moto, motoProxy;
  before(async () => {
    moto = await startMoto({});
    motoProxy = await startFaultProxy({ target: moto.endpoint });
  });
  after(async () => {
    await motoProxy?.close();
    await moto?.stop();
  });

  const key = (id) => ({ userId: { S: 'u-moto' }, invoiceId: { S: id } });
  const invoice = (id, version) => ({ ...key(id), version: { N: String(version) }, total: { N: String(100 * version) } });
  // The replay's conditional put: the version the client last saw.
  const putSeen = (id, version, seen, extra = {}) => ({
    Put: { TableName: TABLE, Item: invoice(id, version), ConditionExpression: 'version = :seen', ExpressionAttributeValues: { ':seen': { N: String(seen) } }, ...extra },
  });

  test('moto has the invoices table keyed by userId and invoiceId', async () => {
    await ensureTable(moto.endpoint);
    await ensureTable(moto.endpoint); // idempotent
    const d = await client(moto.endpoint).send(new DescribeTableCommand({ TableName: TABLE }));
    assert.deepEqual(d.Table.KeySchema, [{ AttributeName: 'userId', KeyType: 'HASH' }, { AttributeName: 'invoiceId', KeyType: 'RANGE' }]);
    assert.equal(d.Table.TableStatus, 'ACTIVE');
  });

  test('moto TransactWriteItems through the fault proxy: all-or-nothing, cancellation reasons per action, ALL_OLD item', async () => {
    const db = client(motoProxy.url);
    await db.send(new TransactWriteItemsCommand({
      TransactItems: ['a', 'b'].map((id) => ({ Put: { TableName: TABLE, Item: invoice(id, 1), ConditionExpression: 'attribute_not_exists(invoiceId)' } })),
    }));
    for (const id of ['a', 'b']) {
      const got = await db.send(new GetItemCommand({ TableName: TABLE, Key: key(id), ConsistentRead: true }));
      assert.equal(got.Item.version.N, '1');
    }
    // a: seen 1, right. b: seen 7, wrong (it is at 1) -> the whole transaction is cancelled.
    const e = await db.send(new TransactWriteItemsCommand({
      TransactItems: [putSeen('a', 2, 1), putSeen('b', 8, 7, { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' })],
    })).then(() => assert.fail('expected TransactionCanceledException'), (err) => err);
    assert.ok(e instanceof TransactionCanceledException, `${e.name}: ${e.message}`);
    assert.equal(e.name, 'TransactionCanceledException');
    assert.equal(e.$metadata.httpStatusCode, 400);
    assert.deepEqual(e.CancellationReasons.map((r) => r.Code), ['None', 'ConditionalCheckFailed']);
    assert.equal(e.CancellationReasons[0].Item, undefined);
    assert.deepEqual(e.CancellationReasons[1].Item, invoice('b', 1)); // ALL_OLD: DynamoDB's copy, for the conflicts store
    assert.equal(e.CancellationReasons[1].Message, 'The conditional request failed');
    // nothing written: a is still at 1
    const a = await db.send(new GetItemCommand({ TableName: TABLE, Key: key('a'), ConsistentRead: true }));
    assert.equal(a.Item.version.N, '1');
    // without ALL_OLD no item comes back
    const e2 = await db.send(new TransactWriteItemsCommand({ TransactItems: [putSeen('a', 2, 1), putSeen('b', 8, 7)] })).catch((err) => err);
    assert.deepEqual(e2.CancellationReasons, [{ Code: 'None' }, { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' }]);
    const s = await motoProxy.stats();
    assert.equal(s.byTarget.TransactWriteItems, 3);
  });

  test('moto TransactionCanceledException: the raw JSON body the Rust SDK parses', async () => {
    await ensureTable(moto.endpoint);
    await client(moto.endpoint).send(new PutItemCommand({ TableName: TABLE, Item: invoice('raw', 3) }));
    const payload = JSON.stringify({ TransactItems: [putSeen('raw-new', 1, 0), putSeen('raw', 4, 2, { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' })] });
    const res = await fetch(motoProxy.url, {
      method: 'POST',
      // signed for real: the proxy checks signatures as DynamoDB does
      headers: signV4({ url: motoProxy.url, body: payload, headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'DynamoDB_20120810.TransactWriteItems' } }),
      body: payload,
    });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('x-amzn-errortype'), 'TransactionCanceledException');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const body = await res.json();
    assert.deepEqual(body, {
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
      CancellationReasons: [
        { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' }, // raw-new does not exist: version = :seen fails
        { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed', Item: invoice('raw', 3) },
      ],
      Message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, ConditionalCheckFailed]',
    });
  });

  test('moto answers the browser SDK CORS preflight itself, and so does the proxy in front of it', async () => {
    const origin = 'http://127.0.0.1:8080';
    const reqHeaders = 'authorization,content-type,x-amz-target,x-amz-date,x-amz-security-token,x-amz-user-agent,amz-sdk-invocation-id,amz-sdk-request';
    for (const url of [moto.endpoint, motoProxy.url]) {
      const pre = await fetch(url, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': reqHeaders } });
      assert.equal(pre.status, 200, url);
      assert.ok(['*', origin].includes(pre.headers.get('access-control-allow-origin')), url);
      const allowed = (pre.headers.get('access-control-allow-headers') || '').toLowerCase();
      assert.ok(allowed === '*' || reqHeaders.split(',').every((h) => allowed.split(/\s*,\s*/).includes(h)), `${url}: ${allowed}`);
      assert.match(pre.headers.get('access-control-allow-methods') || '', /POST/, url);
      const d = await fetch(url, {
        method: 'POST',
        headers: signV4({ url, body: '{}', headers: { Origin: origin, 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'DynamoDB_20120810.ListTables' } }),
        body: '{}',
      });
      assert.equal(d.status, 200, url);
      assert.ok(['*', origin].includes(d.headers.get('access-control-allow-origin')), url);
    }
  });
});
