// Drives the collector's web page in real headless Chromium (Debian's /usr/bin/chromium) with
// playwright-core, as an on-call engineer would: the page must show the degraded array and the
// misplaced backup and list the alert; the alert is acknowledged with the page's button (the
// admin token entered in the page's form when the collector asks for it), and the page must
// then show it acknowledged; another alert is silenced from its menu. Started by tests/tests/web_page.rs, which set up the collector and
// checks the ack through the API afterwards.
//
// usage: node dashboard.mjs URL ALERT_NAME ADMIN_TOKEN SCREENSHOT_DIR
// Prints one JSON line ({"acked_id": ...}) on success; exits 1 with the reason otherwise.

import { openPage } from './chromium.mjs';
import { join } from 'node:path';

const [url, alertName, token, shots] = process.argv.slice(2);
if (!url || !alertName || !token || !shots) {
  console.error('usage: node dashboard.mjs URL ALERT_NAME ADMIN_TOKEN SCREENSHOT_DIR');
  process.exit(2);
}
function fail(why) { throw new Error(why); }

const { page, close } = await openPage();
let code = 0;
try {
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(url)) external.push(r.url()); });
  const consoleErrors = [];
  // The first ack is answered 401 on purpose (no token yet): Chromium logs that as an error.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('#role:not(.unknown)', { timeout: 15000 });
  const role = (await page.textContent('#role')).trim();
  if (role !== 'primary') fail(`the role shown is ${JSON.stringify(role)}, not primary`);

  // The fleet grid: the degraded array and the misplaced backup, coloured as critical.
  const raid = page.locator('.host li[data-check="raid"].crit', { hasText: 'degraded' });
  await raid.first().waitFor({ timeout: 15000 });
  const backup = page.locator('.host li[data-check="backup"].crit');
  await backup.first().waitFor({ timeout: 15000 });
  const backupText = await backup.first().textContent();
  if (!/same|misplaced|filesystem|array|disk/i.test(backupText)) fail(`backup line does not say where it is: ${backupText}`);
  const hostCard = page.locator('.host.bad');
  if (await hostCard.count() < 1) fail('no host card is coloured as bad');

  // The alert is listed, with an Acknowledge button.
  const alert = page.locator(`#alerts li.alert[data-name="${alertName}"]`);
  await alert.first().waitFor({ timeout: 20000 });
  const id = await alert.first().getAttribute('data-id');
  await page.screenshot({ path: join(shots, 'dashboard-before-ack.png'), fullPage: true });

  // Acknowledge: the collector wants the admin token, the page asks for it, keeps it in
  // sessionStorage and sends the ack again.
  await alert.first().locator('button.ack').click();
  await page.waitForSelector('#tokenform:not([hidden])', { timeout: 10000 });
  await page.fill('#tokenform input[name=token]', token);
  await page.fill('#tokenform input[name=author]', 'oncall-browser');
  await page.click('#tokenform button[type=submit]');
  const acked = page.locator(`#alerts li.alert[data-id="${id}"] .badge.acked`);
  await acked.waitFor({ timeout: 15000 });
  const badge = await acked.textContent();
  if (!badge.includes('oncall-browser')) fail(`ack badge does not name the author: ${badge}`);
  const kept = await page.evaluate(() => sessionStorage.getItem('logwarden.token'));
  if (kept !== token) fail('the token was not kept in sessionStorage');

  // Silence another alert for an hour from its menu (the token is kept by now).
  const other = page.locator('#alerts li.alert[data-name="BackupMisplaced"]');
  const otherId = await other.first().getAttribute('data-id');
  await other.first().locator('select.silence').selectOption('1');
  await page.locator(`#alerts li.alert[data-id="${otherId}"] .badge.silenced`).waitFor({ timeout: 15000 });

  // The search's volume histogram: bars for the events found.
  // The search's volume histogram over the 24 hours asked for (30 min buckets), the events
  // of the test in the last bars.
  await page.waitForSelector('#histogram svg rect', { state: 'attached', timeout: 15000 });
  const bars = await page.locator('#histogram svg rect').count();
  const filled = await page.locator('#histogram svg rect:not([height="0"])').count();
  if (bars < 48 || filled < 1) fail(`histogram has ${bars} buckets, ${filled} with events`);

  // Times in the search list to the millisecond, as the CLI prints them: never nanoseconds.
  await page.locator('#hits td.ts').first().waitFor({ state: 'attached', timeout: 15000 });
  const times = await page.locator('#hits td.ts').allTextContents();
  const long = times.filter((t) => !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?(Z|[+-]\d\d:\d\d)$/.test(t));
  if (long.length) fail(`event times not to the millisecond: ${long.slice(0, 3).join(', ')}`);

  await page.screenshot({ path: join(shots, 'dashboard-after-ack.png'), fullPage: true });

  // Readable on a phone: nothing wider than the screen.
  await page.setViewportSize({ width: 375, height: 812 });
  await page.reload({ waitUntil: 'load' });
  await page.locator('.host li[data-check="raid"]').first().waitFor({ timeout: 15000 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) fail(`the page is ${overflow}px wider than a 375px phone screen`);
  await page.screenshot({ path: join(shots, 'dashboard-phone.png'), fullPage: true });

  if (external.length) fail(`the page fetched from elsewhere: ${external.join(', ')}`);
  if (consoleErrors.length) fail(`errors in the page: ${consoleErrors.join(' | ')}`);
  console.log(JSON.stringify({ acked_id: id, silenced_id: otherId, histogram_bars: bars }));
} catch (e) {
  console.error(`browser test: ${e.message}`);
  await page.screenshot({ path: join(shots, 'dashboard-failure.png'), fullPage: true }).catch(() => {});
  code = 1;
} finally {
  await close();
}
process.exit(code);
