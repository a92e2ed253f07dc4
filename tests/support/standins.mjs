// Local stand-ins for AWS: dynalite (DynamoDB), moto (DynamoDB with TransactWriteItems) and
// cognito-local (Cognito user pools),
// real servers started as child processes, plus the preset table, pool, app client and
// demo user. Used by scripts/run.sh (`node tests/support/standins.mjs`) and by tests.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = (name) => path.join(root, 'node_modules/.bin', name);

export const TABLE = 'ledgerline-invoices';
export const DEMO_USER = { username: 'demo@ledgerline.test', password: 'Ledgerline-demo-1' };
// The local servers check no signatures; these documented AWS example values only
// satisfy the request format. They are not real credentials.
export const LOCAL_KEYS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

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

/** A JSON-1.0/1.1 AWS API call (the local servers do not check the signature). */
export async function awsCall(endpoint, target, body, { jsonVersion = '1.0', service = 'dynamodb' } = {}) {
  const date = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'Content-Type': `application/x-amz-json-${jsonVersion}`,
      'X-Amz-Target': target,
      'X-Amz-Date': date,
      Authorization: `AWS4-HMAC-SHA256 Credential=${LOCAL_KEYS.accessKeyId}/${date.slice(0, 8)}/us-east-1/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0`,
    },
    body: JSON.stringify(body),
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
