// The collector's mail trace on its web page, in real headless Chromium: search for a postfix
// line, click it, and the page must show the message's hops and its recipients' final status;
// then trace a bounced message from the form. Started by tests/tests/trace.rs.
//
// usage: node trace.mjs URL SCREENSHOT_DIR
// Prints one JSON line ({"clicked": {...}, "bounced": {...}}) on success; exits 1 with the reason
// otherwise.

import { openPage } from './chromium.mjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [url, shots] = process.argv.slice(2);
if (!url || !shots) {
  console.error('usage: node trace.mjs URL SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const { page, close } = await openPage();
let code = 0;

async function shown() {
  return page.evaluate(() => ({
    summary: document.getElementById('tracesummary')?.textContent || '',
    messages: document.querySelectorAll('#traceout .traced').length,
    hops: document.querySelectorAll('#traceout tr.hop').length,
    notification: document.querySelectorAll('#traceout tr.hop.notification').length,
    hosts: [...new Set([...document.querySelectorAll('#traceout tr.hop td:nth-child(3)')].map((t) => t.textContent))].sort(),
    recipients: [...document.querySelectorAll('#traceout li.recipient')].map((l) => l.textContent),
    title: document.querySelector('#traceout .traced h3')?.textContent || '',
  }));
}

try {
  await page.goto(url, { waitUntil: 'load' });
  // Search for the first queue's smtpd line over all time, then click it.
  await page.fill('#search input[name=q]', 'fields.queue_id:4A1B2C3D01 AND fields.client:mail');
  await page.selectOption('#search select[name=since]', '');
  await page.click('#search button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#hits tr').length === 1, null, { timeout: 15000 });
  await page.click('#hits tr td.msg');
  await page.waitForSelector('#traceout .traced', { timeout: 15000 });
  const clicked = await shown();
  await page.screenshot({ path: join(shots, 'trace-clicked.png'), fullPage: true });

  // A bounced message, from the form.
  await page.fill('#trace input[name=tq]', '7D2B3C4D08');
  await page.click('#trace button[type=submit]');
  await page.waitForFunction(() => (document.querySelector('#traceout .traced h3')?.textContent || '').includes('d4.'), null, { timeout: 15000 });
  const bounced = await shown();
  await page.screenshot({ path: join(shots, 'trace-bounced.png'), fullPage: true });

  // Something that matches nothing says so.
  await page.fill('#trace input[name=tq]', 'ABCDEF0123');
  await page.click('#trace button[type=submit]');
  await page.waitForFunction(() => (document.getElementById('tracesummary')?.textContent || '').startsWith('no message'), null, { timeout: 15000 });
  const nothing = await shown();
  console.log(JSON.stringify({ clicked, bounced, nothing }));
} catch (e) {
  console.error(String(e && e.stack || e));
  try { await page.screenshot({ path: join(shots, 'trace-failed.png'), fullPage: true }); } catch {}
  code = 1;
} finally {
  await close();
}
process.exit(code);
