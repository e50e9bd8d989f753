// The built-in chat page (GET /) in headless Chromium via playwright-core: type a message,
// press Enter, and see the assistant's reply arrive in several streamed updates. Saves a
// screenshot next to this script (the ctest artifact chat_page.png).
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const port = process.argv[2];
const work = process.argv[3];
const userDataDir = fs.mkdtempSync(path.join(work, 'profile-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout: 60000,
});
try {
  const page = context.pages()[0] ?? await context.newPage();
  const pageErrors = [];
  page.on('pageerror', e => pageErrors.push(String(e)));
  await page.goto(`http://127.0.0.1:${port}/`, { timeout: 30000 });
  await page.waitForFunction(() => document.getElementById('model').textContent.includes('tiny'),
                             null, { timeout: 15000 });
  // Count how many times the assistant bubble's text changes while the reply streams in.
  await page.evaluate(() => {
    window.__updates = 0;
    new MutationObserver(records => { window.__updates += records.length; })
        .observe(document.getElementById('log'), { subtree: true, childList: true, characterData: true });
  });
  await page.fill('#in', 'Hello from the browser test');
  await page.press('#in', 'Enter');
  const reply = page.locator('.m.assistant').first();
  await reply.waitFor({ timeout: 15000 });
  await page.waitForFunction(() => document.querySelector('.m.assistant')?.dataset.done === '1',
                             null, { timeout: 60000 });
  const text = await reply.textContent();
  const updates = await page.evaluate(() => window.__updates);
  await page.screenshot({ path: path.join(work, 'chat_page.png'), fullPage: true });
  assert.equal(await page.locator('.m.user').first().textContent(), 'Hello from the browser test');
  assert.ok(text.length > 0, 'empty reply');
  assert.ok(!text.startsWith('error:'), `reply is an error: ${text}`);
  // Every mutation record counts: the two bubbles, then one per streamed chunk the page
  // applied, so more than a handful means the reply was rendered incrementally.
  assert.ok(updates >= 5, `reply arrived in only ${updates} DOM updates (not streamed?)`);
  assert.deepEqual(pageErrors, []);
  console.log(`browser chat: reply of ${text.length} chars in ${updates} DOM updates; ` +
              `screenshot ${path.join(work, 'chat_page.png')}`);
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
