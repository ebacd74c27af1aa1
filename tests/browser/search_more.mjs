// The web page's search list pages by cursor, in real headless Chromium: with more matches than
// one page (200), "Load more" appends the next page after the last one shown, until every match
// is listed once; then it hides. A click on a hit shows the events around it (another hides
// them). Started by tests/tests/web_page.rs.
//
// usage: node search_more.mjs URL QUERY SCREENSHOT_DIR
// Prints one JSON line ({"rows": n, "pages": n, "messages": [...], "context": [...], "marked":
// "..."}) on success; exits 1 with the reason otherwise.

import { openPage } from './chromium.mjs';
import { join } from 'node:path';

const [url, query, shots] = process.argv.slice(2);
if (!url || !query || !shots) {
  console.error('usage: node search_more.mjs URL QUERY SCREENSHOT_DIR');
  process.exit(2);
}
function fail(why) { throw new Error(why); }

const { page, close } = await openPage();
let code = 0;
try {
  await page.goto(url, { waitUntil: 'load' });
  await page.fill('#search input[name=q]', query);
  await page.selectOption('#search select[name=since]', '');
  await page.click('#search button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#hits > tr').length === 200, null, { timeout: 15000 });
  let pages = 1;
  while (await page.isVisible('#more')) {
    const before = await page.locator('#hits > tr').count();
    await page.click('#more');
    await page.waitForFunction((n) => document.querySelectorAll('#hits > tr').length > n, before, { timeout: 15000 });
    pages += 1;
    if (pages > 20) fail('Load more never ends');
  }
  const messages = await page.$$eval('#hits > tr > td.msg', (tds) => tds.map((td) => td.textContent));
  // A click on the third hit shows the events around it; a second click hides them.
  await page.click('#hits > tr:nth-child(3)');
  await page.waitForSelector('#hits tr.context', { timeout: 15000 });
  const context = await page.$$eval('#hits tr.context td.msg', (tds) => tds.map((td) => td.textContent));
  const marked = await page.textContent('#hits tr.context tr.self td.msg');
  await page.screenshot({ path: join(shots, 'search-more.png'), fullPage: false });
  await page.click('#hits > tr:nth-child(3)');
  await page.waitForSelector('#hits tr.context', { state: 'detached', timeout: 15000 });
  console.log(JSON.stringify({ rows: messages.length, pages, messages, context, marked }));
} catch (e) {
  console.error(`browser test: ${e.message}`);
  await page.screenshot({ path: join(shots, 'search-more-failure.png'), fullPage: true }).catch(() => {});
  code = 1;
} finally {
  await close();
}
process.exit(code);
