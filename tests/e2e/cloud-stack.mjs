// What the cloud end-to-end tests share: dynalite (persisted, restartable on the same
// port) behind the fault proxy, cognito-local with the preset pool, the app's server,
// Chromium, and an independent DynamoDB client (the AWS SDK for JavaScript).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startServer } from '../support/server.mjs';
import { launchBrowser } from '../support/browser.mjs';
import { startDynalite, ensureTable, startCognito, ensurePool, freePort, LOCAL_KEYS } from '../support/standins.mjs';
import { startFaultProxy } from '../support/fault-proxy.mjs';
import { dist } from './helpers.mjs';

// Shaped like AWS Academy credentials; the documented AWS example values, not real keys.
export const KEY_ID = 'ASIAIOSFODNN7EXAMPLE';
export const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
export const TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLE/TOKEN+'.repeat(12) + '==';
export const BLOCK = `[default]\naws_access_key_id=${KEY_ID}\naws_secret_access_key=${SECRET}\naws_session_token=${TOKEN}\n`;
export const PASSWORD = 'Ledgerline-test-1';

export async function startCloudStack(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ledgerline-${name}-`));
  const dynamoDir = path.join(dir, 'dynalite');
  const dynamoPort = await freePort();
  const s = { dir };
  s.dynamo = await startDynalite({ port: dynamoPort, dir: dynamoDir });
  await ensureTable(s.dynamo.endpoint);
  s.proxy = await startFaultProxy({ target: s.dynamo.endpoint });
  s.cognito = await startCognito({ dir: path.join(dir, 'cognito') });
  s.pool = await ensurePool(s.cognito, null);
  s.server = await startServer({ root: dist });
  s.browser = await launchBrowser();
  s.db = new DynamoDBClient({ endpoint: s.dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_KEYS });
  /** The real server process comes back, same port, same data. */
  s.restartDynamo = async () => {
    s.dynamo = await startDynalite({ port: dynamoPort, dir: dynamoDir });
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
