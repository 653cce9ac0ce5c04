// lib/dashui.mjs — the dashboard in a real browser, for end-to-end tests.
//
// One harness for every dash*.test.mjs browser suite: Debian's chromium
// driven by puppeteer-core with a throwaway profile, a page that collects
// console errors and page errors (a test ends with
// assert.deepEqual(problems, [])), sign-in with a key, going to a view and
// waiting until it has rendered, reading a table's rows, and screenshots into
// build/ui-shots/.  A suite is skipped when chromium is missing (NO_CHROMIUM).
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import puppeteer from 'puppeteer-core';

import { tempDir } from './frugal.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const SHOTS = resolve(here, '..', '..', '..', 'build', 'ui-shots');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/* For describe(..., { skip: NO_CHROMIUM }): false, or why the suite is skipped. */
export const NO_CHROMIUM = !existsSync(CHROMIUM) && `no ${CHROMIUM} (scripts/install-deps.sh installs it)`;

/* Registers before/after hooks in the calling describe that launch and close
 * one headless chromium; returns a holder whose .browser is set in before(). */
export function useBrowser(name) {
  const ui = { browser: undefined };
  let profile;
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    profile = tempDir(`frugal-${name}-chromium-`);
    ui.browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        `--user-data-dir=${profile}`],
    });
  });
  after(async () => {
    await ui.browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });
  return ui;
}

/* A new page that records console errors and page errors into problems. */
export async function newPage(browser, { width = 1280, height = 900 } = {}) {
  const problems = [];
  const p = await browser.newPage();
  await p.setViewport({ width, height });
  p.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()} (${m.location()?.url})`); });
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return { p, problems };
}

/* Sign in on page p to the dashboard at url with key (the answer not awaited). */
export async function signIn(p, url, key) {
  await p.goto(`${url}/`, { waitUntil: 'load' });
  await p.type('#key', key);
  await p.click('#signin-form button');
}

/* A new page signed in to the dashboard at url with key; waits for the app. */
export async function signedIn(browser, url, key, size) {
  const page = await newPage(browser, size);
  await signIn(page.p, url, key);
  await page.p.waitForFunction(() => !document.getElementById('app').hidden, { timeout: 15000 });
  return page;
}

/* The page shows no error (message names where we were). */
export async function noPageError(p, where) {
  assert.equal(await p.$eval('#error', (e) => (e.hidden ? '' : e.textContent)), '', `${where}: the page shows an error`);
}

/* Mark the shown view stale before a change renders a new one: the
 * hashchange that starts the render comes later, so without this a wait
 * for ready could see the old render's '1' (and read the old numbers). */
export const goTo = (p, hash) => p.evaluate((h) => {
  const m = document.getElementById('main');
  if (m && location.hash !== `#${h}`) m.dataset.ready = '0';
  location.hash = h;
}, hash);

/* Go to a view by hash ('keys?range=1h') and wait until that view has rendered. */
export async function showView(p, hash) {
  await goTo(p, hash);
  await p.waitForFunction((v) => {
    const m = document.getElementById('main');
    return m && m.dataset.view === v && m.dataset.ready === '1';
  }, { timeout: 15000 }, hash.split('?')[0]);
  await noPageError(p, hash);
}

/* The rows of table[data-testid=testid]: one object per row, column -> data-value or text. */
export const tableRows = (p, testid) =>
  p.$$eval(`table[data-testid="${testid}"] tbody tr`, (trs) => trs.map((tr) =>
    Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.col, td.dataset.value ?? td.textContent]))));

/* The texts of column col in table[data-testid=testid], in row order. */
export const tableCells = (p, testid, col) =>
  p.$$eval(`table[data-testid="${testid}"] td[data-col="${col}"]`, (tds) => tds.map((td) => td.textContent));

/* The number in [data-testid=testid]'s data-value. */
export const testidValue = (p, testid) => p.$eval(`[data-testid="${testid}"]`, (e) => Number(e.dataset.value));

/* A full-page screenshot into build/ui-shots/NAME. */
export const screenshot = (p, name, { fullPage = true } = {}) => p.screenshot({ path: join(SHOTS, name), fullPage });
