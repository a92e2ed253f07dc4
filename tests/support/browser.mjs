// Debian Chromium driven by playwright-core (never `npx playwright install`: no download).
//
//   import { launchBrowser, newPage } from './support/browser.mjs';
//   const browser = await launchBrowser();
//   const { context, page } = await newPage(browser, srv.url);
//   await page.goto(srv.url);
//   ...
//   assert.deepEqual(page.errors, []);   // the wasm never panicked, nothing threw
//   await browser.close();
//
// Offline: stop the server process (srv.close()) — that is the honest test. context.setOffline(true)
// also cuts the service worker's fetches; CDP network emulation on the page does NOT.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/**
 * New isolated context (own storage, own service workers) and page.
 * `page.errors` collects console errors and uncaught page errors (a Rust panic shows up
 * as both: the panic hook's console.error and the resulting `RuntimeError: unreachable`).
 * Note: while the server is stopped, Chromium also logs each failed request as a console
 * error ("Failed to load resource: net::ERR_CONNECTION_REFUSED"); use appErrors(page)
 * to assert on everything except those network lines.
 * @returns {Promise<{context: import('playwright-core').BrowserContext, page: import('playwright-core').Page}>}
 */
export async function newPage(browser, baseUrl) {
  const context = await browser.newContext({
    ...(baseUrl ? { baseURL: baseUrl } : {}),
    serviceWorkers: 'allow',
    acceptDownloads: true,
  });
  const page = await context.newPage();
  recordErrors(page);
  return { context, page };
}

/** Attach `page.errors` (console errors + uncaught page errors) to a page. */
export function recordErrors(page) {
  if (page.errors) return page;
  page.errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      const where = loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : '';
      page.errors.push(`console.error: ${msg.text()}${where}`);
    }
  });
  page.on('pageerror', (err) => {
    page.errors.push(`pageerror: ${err && err.stack ? err.stack : String(err)}`);
  });
  return page;
}

/** page.errors without Chromium's own network-failure lines (expected while offline). */
export function appErrors(page) {
  return (page.errors ?? []).filter((e) => !e.startsWith('console.error: Failed to load resource:'));
}

/**
 * A persistent (non-incognito) profile in a fresh temp dir. Needed where Chromium refuses
 * incognito contexts: CDP `Page.getInstallabilityErrors` answers [{errorId:'in-incognito'}]
 * for browser.newContext(), and [] here for an installable app. close() deletes the profile.
 * @returns {Promise<{context: import('playwright-core').BrowserContext, page: import('playwright-core').Page, close: () => Promise<void>}>}
 */
export async function launchPersistent(baseUrl, options = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ledgerline-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    ...(baseUrl ? { baseURL: baseUrl } : {}),
    serviceWorkers: 'allow',
    acceptDownloads: true,
    ...options,
  });
  const page = recordErrors(context.pages()[0] ?? (await context.newPage()));
  const close = async () => {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, page, close };
}
