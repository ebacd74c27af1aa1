// The collector's web page when reads need a token (read tokens configured), in real headless
// Chromium: the page must ask for a token once, keep it in sessionStorage, send it on every
// call and then show the fleet and the search hits. Started by tests/tests/web_page.rs.
//
// usage: node read_token.mjs URL READ_TOKEN SCREENSHOT_DIR
// Prints one JSON line ({"hosts": n, "hits": n, "refused": n}) on success; exits 1 with the
// reason otherwise.

import { openPage } from './chromium.mjs';
import { join } from 'node:path';

const [url, token, shots] = process.argv.slice(2);
if (!url || !token || !shots) {
  console.error('usage: node read_token.mjs URL READ_TOKEN SCREENSHOT_DIR');
  process.exit(2);
}
function fail(why) { throw new Error(why); }

const { page, close } = await openPage();
let code = 0;
try {
  // Every API call the page makes, with whether it carried the token.
  const calls = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/')) calls.push({ url: r.url(), auth: r.headers()['authorization'] || '' });
  });
  await page.goto(url, { waitUntil: 'load' });

  // The first reads are refused: the page asks for a token, once.
  await page.waitForSelector('#tokenform:not([hidden])', { timeout: 15000 });
  const why = await page.textContent('#tokenwhy');
  if (!/read/i.test(why)) fail(`the token form does not say reading needs a token: ${why}`);
  if (await page.locator('.host').count() > 0) fail('the fleet is shown before any token');
  const refused = calls.length;
  await page.fill('#tokenform input[name=token]', token);
  await page.click('#tokenform button[type=submit]');

  // Then the fleet, the status and the search hits are shown.
  await page.locator('.host').first().waitFor({ timeout: 15000 });
  await page.waitForSelector('#role:not(.unknown)', { timeout: 15000 });
  await page.locator('#hits tr').first().waitFor({ timeout: 15000 });
  if (!(await page.isHidden('#tokenform'))) fail('the token form is still open');
  const kept = await page.evaluate(() => sessionStorage.getItem('logwarden.token'));
  if (kept !== token) fail('the token was not kept in sessionStorage');

  // Past a refresh (every 5 s) every call carries the token, and the form stays closed.
  await page.waitForTimeout(5500);
  const later = calls.slice(refused);
  const bare = later.filter((c) => c.auth !== `Bearer ${token}`);
  if (later.length < 8) fail(`only ${later.length} calls after the token was entered`);
  if (bare.length) fail(`calls without the token: ${bare.map((c) => c.url).join(', ')}`);
  if (!(await page.isHidden('#tokenform'))) fail('the page asked for the token again');

  await page.screenshot({ path: join(shots, 'dashboard-read-token.png'), fullPage: true });
  console.log(JSON.stringify({
    hosts: await page.locator('.host').count(),
    hits: await page.locator('#hits tr').count(),
    refused,
  }));
} catch (e) {
  console.error(`browser test: ${e.message}`);
  await page.screenshot({ path: join(shots, 'dashboard-read-token-failure.png'), fullPage: true }).catch(() => {});
  code = 1;
} finally {
  await close();
}
process.exit(code);
