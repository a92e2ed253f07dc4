// The fault proxy checks SigV4 signatures and the 5-minute request-time window as DynamoDB
// does (dynalite and moto check neither), exercised with the AWS SDK for JavaScript v3
// against dynalite behind the proxy.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { DynamoDBClient, ListTablesCommand, DescribeTableCommand, PutItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { SignatureV4 } from '@smithy/signature-v4';
import { startDynalite, ensureTable, signV4, parseAmzDate, amzDate, TABLE, LOCAL_KEYS, ACADEMY_KEYS } from '../support/standins.mjs';
import { startFaultProxy, KNOWN_KEYS, REFUSALS } from '../support/fault-proxy.mjs';

// The key the e2e tests paste into the app (tests/e2e/cloud-stack.mjs KEY_ID, SECRET, TOKEN).
const { accessKeyId: KEY_ID, secretAccessKey: SECRET } = ACADEMY_KEYS;
const TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLE/TOKEN+'.repeat(12) + '==';

const MIN = 60 * 1000;
const MISMATCH = 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const TS = '(\\d{8}T\\d{6}Z)';
const EXPIRED = new RegExp(`^Signature expired: ${TS} is now earlier than ${TS} \\(${TS} - 5 min\\.\\)$`);
const NOT_YET = new RegExp(`^Signature not yet current: ${TS} is still later than ${TS} \\(${TS} \\+ 5 min\\.\\)$`);

let dynamo, proxy;
before(async () => {
  dynamo = await startDynalite({});
  await ensureTable(dynamo.endpoint);
  proxy = await startFaultProxy({ target: dynamo.endpoint });
});
after(async () => {
  await proxy?.close();
  await dynamo?.stop();
});
beforeEach(async () => {
  await proxy.set({ mode: 'pass', latencyMs: 0, clockOffsetMs: 0, verify: true });
  await proxy.resetStats();
});

/** A fresh client each time: the SDK keeps the clock skew it learnt from a Date header. */
const sdk = (credentials = LOCAL_KEYS, opts = {}) =>
  new DynamoDBClient({ endpoint: proxy.url, region: 'us-east-1', credentials, maxAttempts: 1, ...opts });
/** The SDK error a send rejects with (fails when it resolves). */
const failure = (promise) => promise.then((r) => assert.fail(`expected a refusal, got ${JSON.stringify(r)}`), (e) => e);
/** A raw signed DynamoDB call through the proxy. */
const raw = (target, body, { credentials = LOCAL_KEYS, now = Date.now(), headers = {}, send = body } = {}) => {
  const payload = JSON.stringify(body);
  const signed = signV4({ url: proxy.url, body: payload, credentials, now, headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': `DynamoDB_20120810.${target}` } });
  return fetch(proxy.url, { method: 'POST', headers: { ...signed, ...headers }, body: typeof send === 'string' ? send : JSON.stringify(send) });
};

test('the known keys: the local key, the Academy-shaped key the e2e tests paste, and moto\'s identity-pool key', () => {
  assert.deepEqual(KNOWN_KEYS, {
    AKIAIOSFODNN7EXAMPLE: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    ASIAIOSFODNN7EXAMPLE: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    TESTACCESSKEY12345: 'ABCSECRETKEY',
  });
  assert.equal(KNOWN_KEYS[KEY_ID], SECRET);
  assert.equal(KEY_ID, 'ASIAIOSFODNN7EXAMPLE');
});

test('a correctly signed request passes, with either known key (and a session token)', async () => {
  const tables = await sdk().send(new ListTablesCommand({}));
  assert.ok(tables.TableNames.includes(TABLE));
  const d = await sdk({ accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN }).send(new DescribeTableCommand({ TableName: TABLE }));
  assert.equal(d.Table.TableStatus, 'ACTIVE');
  const res = await raw('ListTables', {});
  assert.equal(res.status, 200, await res.clone().text());
  const s = await proxy.stats();
  assert.deepEqual(s.refused, {});
  assert.equal(s.answered.ListTables, 2);
});

test('our signer signs exactly as @smithy/signature-v4 (the SDK\'s own signer), whose signatures pass', async () => {
  class Sha256 {
    constructor(secret) { this.h = secret ? crypto.createHmac('sha256', secret) : crypto.createHash('sha256'); }
    update(data) { this.h.update(data); }
    async digest() { return new Uint8Array(this.h.digest()); }
  }
  const url = new URL(proxy.url);
  const smithy = (body, { now = Date.now(), applyChecksum = true } = {}) =>
    new SignatureV4({ credentials: { ...LOCAL_KEYS, sessionToken: 'tok' }, region: 'us-east-1', service: 'dynamodb', sha256: Sha256, applyChecksum }).sign({
      method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', query: {},
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.DescribeTable' }, body,
    }, { signingDate: new Date(now) });
  const now = Date.UTC(2026, 11, 2, 2, 15, 0);
  const body = JSON.stringify({ TableName: TABLE });
  const signed = await smithy(body, { now, applyChecksum: false });
  const ours = signV4({ url: proxy.url, body, now, credentials: { ...LOCAL_KEYS, sessionToken: 'tok' }, headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'DynamoDB_20120810.DescribeTable' } });
  assert.equal(ours.Authorization, signed.headers.authorization);
  // smithy's signature (with a signed x-amz-content-sha256) passes the proxy; with the body
  // changed after signing it does not
  const { host, ...headers } = (await smithy(body)).headers;
  assert.match(headers.authorization, /x-amz-content-sha256/);
  const ok = await fetch(proxy.url, { method: 'POST', headers, body });
  assert.equal(ok.status, 200, await ok.clone().text());
  const tampered = await fetch(proxy.url, { method: 'POST', headers, body: body.replace('invoices', 'invoicez') });
  assert.deepEqual(await tampered.json(), { __type: 'com.amazon.coral.service#InvalidSignatureException', message: MISMATCH });
});

test('a wrong secret for a known key id: InvalidSignatureException, "does not match"', async () => {
  const e = await failure(sdk({ accessKeyId: KEY_ID, secretAccessKey: SECRET.replace('EXAMPLEKEY', 'EXAMPLEKEX') }).send(new ListTablesCommand({})));
  assert.equal(e.name, 'InvalidSignatureException');
  assert.equal(e.message, MISMATCH);
  assert.equal(e.$metadata.httpStatusCode, 400);
  const s = await proxy.stats();
  assert.deepEqual(s.refused, { InvalidSignatureException: 1 });
  assert.deepEqual({ op: s.lastRefused.op, type: s.lastRefused.type, message: s.lastRefused.message }, { op: 'ListTables', type: 'InvalidSignatureException', message: MISMATCH });
  assert.equal(s.answered.ListTables, undefined, 'never reached dynalite');
});

test('an unknown key id: UnrecognizedClientException, "The security token included in the request is invalid."', async () => {
  const e = await failure(sdk({ accessKeyId: 'ASIAIOSFODNN8EXAMPLE', secretAccessKey: SECRET }).send(new ListTablesCommand({})));
  assert.equal(e.name, 'UnrecognizedClientException');
  assert.equal(e.message, 'The security token included in the request is invalid.');
  assert.equal(e.$metadata.httpStatusCode, 400);
  assert.deepEqual((await proxy.stats()).refused, { UnrecognizedClientException: 1 });
});

test('the proxy clock 20 min ahead: "Signature expired: <request> is now earlier than <now - 5 min> (<now> - 5 min.)"', async () => {
  await proxy.set({ clockOffsetMs: 20 * MIN });
  const sent = Date.now();
  const e = await failure(sdk().send(new ListTablesCommand({})));
  assert.equal(e.name, 'InvalidSignatureException');
  const m = EXPIRED.exec(e.message);
  assert.ok(m, e.message);
  const [request, limit, now] = m.slice(1).map(parseAmzDate);
  assert.ok(Math.abs(request - sent) < 5000, e.message);
  assert.ok(Math.abs(now - (sent + 20 * MIN)) < 5000, e.message);
  assert.equal(limit, now - 5 * MIN);
  assert.deepEqual((await proxy.stats()).refused, { InvalidSignatureException: 1 });
});

test('the proxy clock 20 min behind: "Signature not yet current: <request> is still later than <now + 5 min> (<now> + 5 min.)"', async () => {
  await proxy.set({ clockOffsetMs: -20 * MIN });
  const sent = Date.now();
  const e = await failure(sdk().send(new ListTablesCommand({})));
  assert.equal(e.name, 'InvalidSignatureException');
  const m = NOT_YET.exec(e.message);
  assert.ok(m, e.message);
  const [request, limit, now] = m.slice(1).map(parseAmzDate);
  assert.ok(Math.abs(request - sent) < 5000, e.message);
  assert.ok(Math.abs(now - (sent - 20 * MIN)) < 5000, e.message);
  assert.equal(limit, now + 5 * MIN);
});

test('the exact messages for a fixed request time, and the edges of the window', async () => {
  const now = Date.now();
  const at = (ms) => raw('ListTables', {}, { now: ms }).then(async (r) => ({ status: r.status, ...(await r.json()) }));
  // (the signature is right: only the time is off)
  let r = await at(now - 6 * MIN);
  assert.equal(r.__type, 'com.amazon.coral.service#InvalidSignatureException');
  const m = EXPIRED.exec(r.message);
  assert.equal(m[1], amzDate(now - 6 * MIN));
  r = await at(now + 6 * MIN);
  assert.equal(r.__type, 'com.amazon.coral.service#InvalidSignatureException');
  assert.equal(NOT_YET.exec(r.message)[1], amzDate(now + 6 * MIN));
  assert.equal((await at(now - 4 * MIN)).status, 200);
  assert.equal((await at(now + 4 * MIN)).status, 200);
});

test('time is checked before the key and the signature, as AWS does', async () => {
  await proxy.set({ clockOffsetMs: 20 * MIN });
  const e = await failure(sdk({ accessKeyId: 'AKIAI44QH8DHBEXAMPLE', secretAccessKey: 'x'.repeat(40) }).send(new ListTablesCommand({})));
  assert.match(e.message, EXPIRED);
});

test('the SDK learns the proxy clock from the Date header: the same client\'s next request passes', async () => {
  await proxy.set({ clockOffsetMs: 20 * MIN });
  const db = sdk();
  await assert.rejects(db.send(new ListTablesCommand({})), (e) => EXPIRED.test(e.message));
  const tables = await db.send(new ListTablesCommand({}));
  assert.ok(tables.TableNames.includes(TABLE));
  // and with retries on, the SDK corrects the skew and retries by itself
  const retrying = sdk(LOCAL_KEYS, { maxAttempts: 3 });
  await proxy.resetStats();
  assert.ok((await retrying.send(new ListTablesCommand({}))).TableNames.includes(TABLE));
  const s = await proxy.stats();
  assert.deepEqual(s.refused, { InvalidSignatureException: 1 });
  assert.equal(s.answered.ListTables, 1);
});

test('every answer carries the proxy clock in its Date header: forwarded, faulted, refused, preflight', async () => {
  const offset = 3 * MIN; // inside the window: a request signed with the real clock still passes
  await proxy.set({ clockOffsetMs: offset });
  const near = (res, what) => {
    const date = res.headers.get('date');
    assert.match(date, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/, what);
    assert.ok(Math.abs(Date.parse(date) - (Date.now() + offset)) <= 5000, `${what}: ${date}`);
  };
  const ok = await raw('ListTables', {});
  assert.equal(ok.status, 200);
  near(ok, 'forwarded');
  assert.equal(ok.headers.get('access-control-expose-headers').includes('Date'), true);
  await proxy.set({ mode: 'throttle', times: 1 });
  const faulted = await raw('ListTables', {});
  assert.equal(faulted.status, 400);
  near(faulted, 'faulted');
  const refused = await raw('ListTables', {}, { credentials: { ...LOCAL_KEYS, secretAccessKey: 'y'.repeat(40) } });
  assert.equal((await refused.json()).message, MISMATCH);
  near(refused, 'refused');
  near(await fetch(proxy.url, { method: 'OPTIONS' }), 'preflight');
  // what the SDK reads
  let seen;
  const db = sdk();
  db.middlewareStack.add((next) => async (args) => {
    const out = await next(args);
    seen = out.response.headers.date;
    return out;
  }, { step: 'deserialize', name: 'readDate' });
  await db.send(new ListTablesCommand({}));
  assert.ok(Math.abs(Date.parse(seen) - (Date.now() + offset)) <= 5000, seen);
});

test('the body changed after signing is refused, and nothing is written', async () => {
  const item = (v) => ({ TableName: TABLE, Item: { userId: { S: 'sig' }, invoiceId: { S: 'tamper' }, version: { N: String(v) } } });
  assert.equal((await raw('PutItem', item(1))).status, 200);
  // signed for version 1, sent with version 9
  const res = await raw('PutItem', item(1), { send: item(9) });
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { __type: 'com.amazon.coral.service#InvalidSignatureException', message: MISMATCH });
  // the same through the SDK: a middleware after the signer swaps the body
  const db = sdk();
  db.middlewareStack.add((next) => async (args) => {
    args.request.body = JSON.stringify(item(8));
    args.request.headers['content-length'] = String(Buffer.byteLength(args.request.body));
    return next(args);
  }, { step: 'finalizeRequest', priority: 'low', name: 'tamperAfterSigning' });
  const e = await failure(db.send(new PutItemCommand(item(2))));
  assert.equal(e.name, 'InvalidSignatureException');
  assert.equal(e.message, MISMATCH);
  // a signed header changed: refused too; an unsigned one added: fine
  const target = await raw('GetItem', { TableName: TABLE, Key: { userId: { S: 'sig' }, invoiceId: { S: 'tamper' } } }, { headers: { 'X-Amz-Target': 'DynamoDB_20120810.DeleteItem' } });
  assert.equal((await target.json()).message, MISMATCH);
  assert.equal((await raw('ListTables', {}, { headers: { 'X-Unsigned': 'yes' } })).status, 200);
  // dynalite still has version 1
  const direct = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_KEYS, maxAttempts: 1 });
  const got = await direct.send(new GetItemCommand({ TableName: TABLE, Key: { userId: { S: 'sig' }, invoiceId: { S: 'tamper' } }, ConsistentRead: true }));
  assert.equal(got.Item.version.N, '1');
  assert.deepEqual((await proxy.stats()).refused, { InvalidSignatureException: 3 });
});

test('no Authorization: MissingAuthenticationTokenException; an incomplete one: IncompleteSignatureException', async () => {
  const post = (headers) => fetch(proxy.url, { method: 'POST', headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'DynamoDB_20120810.ListTables', ...headers }, body: '{}' })
    .then(async (r) => ({ status: r.status, type: r.headers.get('x-amzn-errortype'), ...(await r.json()) }));
  assert.deepEqual(await post({}), { status: 400, type: 'MissingAuthenticationTokenException', __type: 'com.amazon.coral.service#MissingAuthenticationTokenException', message: 'Request is missing Authentication Token' });
  const auth = 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host';
  assert.deepEqual(await post({ Authorization: auth }), {
    status: 400, type: 'IncompleteSignatureException', __type: 'com.amazon.coral.service#IncompleteSignatureException',
    message: `Authorization header requires 'Signature' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${auth}`,
  });
  const r = await post({ Authorization: 'Bearer abc', 'X-Amz-Date': amzDate(Date.now()) });
  assert.equal(r.type, 'IncompleteSignatureException');
  assert.match(r.message, /^Authorization header requires 'Credential' parameter\. Authorization header requires 'Signature' parameter\. Authorization header requires 'SignedHeaders' parameter\. Authorization=Bearer abc$/);
  assert.deepEqual((await proxy.stats()).refused, { MissingAuthenticationTokenException: 1, IncompleteSignatureException: 2 });
});

test('verify: false turns the checks off; clockOffsetMs and verify persist across /__fault calls; stats reset', async () => {
  const wrong = { ...LOCAL_KEYS, secretAccessKey: 'z'.repeat(40) };
  await proxy.set({ verify: false, clockOffsetMs: 20 * MIN });
  assert.ok((await sdk(wrong).send(new ListTablesCommand({}))).TableNames.includes(TABLE));
  const state = await proxy.set({ mode: 'throttle', times: 1 }); // mentions neither
  assert.equal(state.verify, false);
  assert.equal(state.clockOffsetMs, 20 * MIN);
  await assert.rejects(sdk(wrong).send(new ListTablesCommand({})), (e) => e.name === 'ProvisionedThroughputExceededException');
  await proxy.set({ verify: true });
  assert.match((await failure(sdk().send(new ListTablesCommand({})))).message, EXPIRED); // the offset stayed
  assert.deepEqual((await proxy.stats()).refused, { InvalidSignatureException: 1 });
  assert.deepEqual((await proxy.resetStats()).refused, {});
  // startFaultProxy({ verify: false }), and a proxy that knows other keys
  const open = await startFaultProxy({ target: dynamo.endpoint, verify: false });
  const own = await startFaultProxy({ target: dynamo.endpoint, keys: { AKIAI44QH8DHBEXAMPLE: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY' } });
  try {
    const at = (p, credentials) => new DynamoDBClient({ endpoint: p.url, region: 'us-east-1', credentials, maxAttempts: 1 }).send(new ListTablesCommand({}));
    assert.ok((await at(open, wrong)).TableNames);
    assert.ok((await at(own, { accessKeyId: 'AKIAI44QH8DHBEXAMPLE', secretAccessKey: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY' })).TableNames);
    await assert.rejects(at(own, LOCAL_KEYS), (e) => e.name === 'UnrecognizedClientException');
  } finally {
    await open.close();
    await own.close();
  }
});

test('the fault modes still answer as before, behind the check', async () => {
  assert.deepEqual(REFUSALS.unknownKey, [400, 'com.amazon.coral.service#UnrecognizedClientException', 'The security token included in the request is invalid.']);
  await proxy.set({ mode: 'expired', times: 1 });
  await assert.rejects(sdk().send(new ListTablesCommand({})), (e) => e.name === 'ExpiredTokenException');
  // a refused request does not use up `times`
  await proxy.set({ mode: 'denied', times: 1 });
  await assert.rejects(sdk({ ...LOCAL_KEYS, secretAccessKey: 'q'.repeat(40) }).send(new ListTablesCommand({})), (e) => e.name === 'InvalidSignatureException');
  await assert.rejects(sdk().send(new ListTablesCommand({})), (e) => e.name === 'AccessDeniedException');
  assert.ok((await sdk().send(new ListTablesCommand({}))).TableNames);
});
