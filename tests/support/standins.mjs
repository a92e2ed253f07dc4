// Local stand-ins for AWS: dynalite (DynamoDB), moto (DynamoDB with TransactWriteItems) and
// cognito-local (Cognito user pools),
// real servers started as child processes, plus the preset table, pool, app client and
// demo user. Used by scripts/run.sh (`node tests/support/standins.mjs`) and by tests.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = (name) => path.join(root, 'node_modules/.bin', name);

export const TABLE = 'ledgerline-invoices';
export const DEMO_USER = { username: 'demo@ledgerline.test', password: 'Ledgerline-demo-1' };
// The documented AWS example values, not real credentials. dynalite, moto and cognito-local
// check no signatures; the fault proxy (fault-proxy.mjs) does, with the keys in KNOWN_KEYS.
export const LOCAL_KEYS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
// The key the browser app is given in the end-to-end tests (tests/e2e/cloud-stack.mjs
// KEY_ID/SECRET), shaped like AWS Academy's temporary credentials.
export const ACADEMY_KEYS = { accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
// What moto's cognito-identity GetCredentialsForIdentity hands every identity (AWS gives
// each its own temporary keys, valid an hour; moto these, valid 90 s).
export const MOTO_IDENTITY_KEYS = { accessKeyId: 'TESTACCESSKEY12345', secretAccessKey: 'ABCSECRETKEY' };
/** Access key id -> secret access key: the keys the fault proxy knows. It answers any other
 * key id as AWS does (UnrecognizedClientException). */
export const KNOWN_KEYS = Object.freeze({
  [LOCAL_KEYS.accessKeyId]: LOCAL_KEYS.secretAccessKey,
  [ACADEMY_KEYS.accessKeyId]: ACADEMY_KEYS.secretAccessKey,
  [MOTO_IDENTITY_KEYS.accessKeyId]: MOTO_IDENTITY_KEYS.secretAccessKey,
});

// ---- AWS Signature Version 4 (used by awsCall to sign, by the fault proxy to check) ----

export const sha256Hex = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
/** encodeURIComponent plus the RFC 3986 reserved characters it leaves alone. */
const rfc3986 = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const decode = (s) => { try { return decodeURIComponent(s); } catch { return s; } };

/** Epoch ms -> SigV4's ISO 8601 basic format, 20261202T021500Z. */
export const amzDate = (ms) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
/** 20261202T021500Z -> epoch ms (NaN when it is not that shape). */
export function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(String(s ?? ''));
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN;
}

/** The canonical URI of a path as sent on the wire: each segment URI-encoded once more
 * (SigV4 for every service but S3 encodes twice), dot segments removed. */
function canonicalUri(path) {
  const segments = [];
  for (const seg of (path || '/').split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') segments.pop();
    else segments.push(rfc3986(seg));
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return `/${segments.join('/')}${trailing}`;
}

function canonicalQuery(search) {
  return String(search || '').replace(/^\?/, '').split('&').filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf('=');
      return [rfc3986(decode(i < 0 ? pair : pair.slice(0, i))), rfc3986(decode(i < 0 ? '' : pair.slice(i + 1)))];
    })
    .sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
}

/**
 * SigV4's canonical request. `headers`: lowercased name -> value or array of values (each
 * trimmed, inner runs of spaces collapsed, repeated ones joined with commas); `signedHeaders`:
 * the lowercased names, in the order of the SignedHeaders list.
 */
export function canonicalRequest({ method, path = '/', query = '', headers, signedHeaders, payloadHash }) {
  const value = (v) => [].concat(v ?? '').map((x) => String(x).trim().replace(/\s+/g, ' ')).join(',');
  return [
    method.toUpperCase(),
    canonicalUri(path),
    canonicalQuery(query),
    signedHeaders.map((name) => `${name}:${value(headers[name])}\n`).join(''),
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
}

/** The hex signature of a canonical request; `scope` = {day: 'YYYYMMDD', region, service}. */
export function sigv4Signature({ secretAccessKey, date, scope: { day, region, service }, canonical }) {
  const stringToSign = ['AWS4-HMAC-SHA256', date, `${day}/${region}/${service}/aws4_request`, sha256Hex(canonical)].join('\n');
  let key = hmac(`AWS4${secretAccessKey}`, day);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  return crypto.createHmac('sha256', key).update(stringToSign).digest('hex');
}

/**
 * Signs a request as the AWS SDKs do (every header given, plus host and x-amz-date, and
 * x-amz-security-token for temporary credentials). Returns the headers to send (host left
 * to fetch): the given ones plus X-Amz-Date, X-Amz-Security-Token and Authorization.
 */
export function signV4({ url, method = 'POST', headers = {}, body = '', credentials = LOCAL_KEYS, region = 'us-east-1', service = 'dynamodb', now = Date.now() }) {
  const u = new URL(url);
  const date = amzDate(now);
  const out = { ...headers, 'X-Amz-Date': date };
  if (credentials.sessionToken) out['X-Amz-Security-Token'] = credentials.sessionToken;
  const lower = Object.fromEntries(Object.entries(out).map(([k, v]) => [k.toLowerCase(), v]));
  lower.host = u.host;
  const signedHeaders = Object.keys(lower).sort();
  const canonical = canonicalRequest({ method, path: u.pathname, query: u.search, headers: lower, signedHeaders, payloadHash: sha256Hex(body) });
  const scope = { day: date.slice(0, 8), region, service };
  const signature = sigv4Signature({ secretAccessKey: credentials.secretAccessKey, date, scope, canonical });
  out.Authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope.day}/${region}/${service}/aws4_request, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`;
  return out;
}

export async function waitForPort(port, ms = 20000) {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

function child(cmd, args, opts) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let log = '';
  p.stdout.on('data', (d) => { log += d; });
  p.stderr.on('data', (d) => { log += d; });
  const stop = () => new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
    setTimeout(() => p.kill('SIGKILL'), 3000).unref();
  });
  return { process: p, stop, log: () => log };
}

/** A JSON-1.0/1.1 AWS API call, signed with LOCAL_KEYS (so it also passes the fault proxy). */
export async function awsCall(endpoint, target, body, { jsonVersion = '1.0', service = 'dynamodb' } = {}) {
  const payload = JSON.stringify(body);
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: signV4({ url: endpoint, body: payload, service, headers: { 'Content-Type': `application/x-amz-json-${jsonVersion}`, 'X-Amz-Target': target } }),
    body: payload,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(`${target}: ${res.status} ${json.__type || ''} ${json.message || ''}`);
    err.type = (json.__type || '').split('#').pop();
    throw err;
  }
  return json;
}

/** dynalite on `port` with its LevelDB in `dir` (in memory when dir is null). */
export async function startDynalite({ port, dir = null } = {}) {
  port ??= await freePort();
  const args = ['--port', String(port), '--createTableMs', '0', '--deleteTableMs', '0', '--updateTableMs', '0'];
  if (dir) { fs.mkdirSync(dir, { recursive: true }); args.push('--path', dir); }
  const c = child(bin('dynalite'), args, { cwd: root });
  await waitForPort(port);
  return { port, endpoint: `http://127.0.0.1:${port}`, stop: c.stop, log: c.log };
}

export const MOTO_SERVER = path.join(root, '.venv-moto/bin/moto_server');

/**
 * moto's server mode (PyPI moto[server,dynamodb], installed by scripts/setup.sh into
 * .venv-moto): a second DynamoDB stand-in that has TransactWriteItems, which dynalite lacks.
 * In memory only: its tables are gone when it stops. Waits until it answers HTTP.
 */
export async function startMoto({ port } = {}) {
  if (!fs.existsSync(MOTO_SERVER)) throw new Error(`${MOTO_SERVER} not found: run bash scripts/setup.sh`);
  port ??= await freePort();
  const c = child(MOTO_SERVER, ['-H', '127.0.0.1', '-p', String(port)], { cwd: root });
  const endpoint = `http://127.0.0.1:${port}`;
  const until = Date.now() + 20000;
  for (;;) {
    if (c.process.exitCode !== null || c.process.signalCode !== null) throw new Error(`moto_server exited before answering:\n${c.log()}`);
    const ok = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > until) { await c.stop(); throw new Error(`moto_server did not answer on ${endpoint} after 20000 ms:\n${c.log()}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, endpoint, stop: c.stop, log: c.log };
}

/** Creates the invoices table (userId S HASH, invoiceId S RANGE) unless it exists; waits for ACTIVE. */
export async function ensureTable(endpoint, table = TABLE) {
  try {
    await awsCall(endpoint, 'DynamoDB_20120810.CreateTable', {
      TableName: table,
      AttributeDefinitions: [{ AttributeName: 'userId', AttributeType: 'S' }, { AttributeName: 'invoiceId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }, { AttributeName: 'invoiceId', KeyType: 'RANGE' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
  } catch (e) {
    if (e.type !== 'ResourceInUseException') throw e;
  }
  for (let i = 0; i < 100; i++) {
    const d = await awsCall(endpoint, 'DynamoDB_20120810.DescribeTable', { TableName: table });
    if (d.Table.TableStatus === 'ACTIVE') return d.Table;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`table ${table} never became ACTIVE`);
}

const cognitoTarget = (op) => `AWSCognitoIdentityProviderService.${op}`;

/** cognito-local on `port`, keeping its state under `dir` (its .cognito/ folder). */
export async function startCognito({ port, dir } = {}) {
  port ??= await freePort();
  fs.mkdirSync(dir, { recursive: true });
  const c = child(process.execPath, [path.join(root, 'node_modules/cognito-local/lib/bin/start.js')], {
    cwd: dir,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', NODE_NO_WARNINGS: '1' },
  });
  await waitForPort(port);
  const endpoint = `http://127.0.0.1:${port}`;
  const call = (op, body) => awsCall(endpoint, cognitoTarget(op), body, { jsonVersion: '1.1', service: 'cognito-idp' });
  return { port, endpoint, call, stop: c.stop, log: c.log };
}

/** The preset pool, app client (USER_PASSWORD_AUTH) and a confirmed demo user; reused when present. */
export async function ensurePool(cognito, stateFile) {
  let state = null;
  if (stateFile && fs.existsSync(stateFile)) state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  if (state) {
    try {
      await cognito.call('DescribeUserPool', { UserPoolId: state.userPoolId });
      return state;
    } catch { state = null; }
  }
  const pool = await cognito.call('CreateUserPool', { PoolName: 'ledgerline-local', AutoVerifiedAttributes: ['email'], UsernameAttributes: ['email'] });
  const userPoolId = pool.UserPool.Id;
  const client = await cognito.call('CreateUserPoolClient', {
    UserPoolId: userPoolId, ClientName: 'ledgerline-web', ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'USER_PASSWORD_AUTH'],
  });
  const clientId = client.UserPoolClient.ClientId;
  await cognito.call('SignUp', { ClientId: clientId, Username: DEMO_USER.username, Password: DEMO_USER.password, UserAttributes: [{ Name: 'email', Value: DEMO_USER.username }] });
  await cognito.call('AdminConfirmSignUp', { UserPoolId: userPoolId, Username: DEMO_USER.username });
  state = { userPoolId, clientId, region: 'us-east-1' };
  if (stateFile) fs.writeFileSync(stateFile, JSON.stringify(state, null, 2));
  return state;
}

// `node tests/support/standins.mjs`: start both, set them up, print how to use them, run until killed.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const data = path.join(root, '.data');
  const dynamo = await startDynalite({ port: Number(process.env.DYNAMO_PORT || 4567), dir: path.join(data, 'dynalite') });
  await ensureTable(dynamo.endpoint);
  const cognito = await startCognito({ port: Number(process.env.COGNITO_PORT || 9229), dir: path.join(data, 'cognito') });
  const pool = await ensurePool(cognito, path.join(data, 'cognito-pool.json'));
  console.log(`Local DynamoDB (dynalite): ${dynamo.endpoint}  table ${TABLE}  (data in .data/dynalite)`);
  console.log(`Local Cognito (cognito-local): ${cognito.endpoint}  user pool ${pool.userPoolId}  app client ${pool.clientId}`);
  console.log(`Demo user: ${DEMO_USER.username} / ${DEMO_USER.password}`);
  const stop = async () => { await Promise.all([dynamo.stop(), cognito.stop()]); process.exit(0); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
