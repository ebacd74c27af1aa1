// The collector's web page names the hosts that run no agent (a BMC, a hypervisor, a filer) as
// such, with the hosts they serve, in real headless Chromium. Started by tests/tests/web_page.rs.
//
// usage: node fleet_roles.mjs URL SCREENSHOT_DIR HOST...
// Prints one JSON line ({"HOST": {"role": text or null, "seen": text}, ...}) on success; exits 1
// with the reason otherwise.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, shots, ...hosts] = process.argv.slice(2);
if (!url || !shots || !hosts.length) {
  console.error('usage: node fleet_roles.mjs URL SCREENSHOT_DIR HOST...');
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), 'logwarden-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let code = 0;
const page = browser.pages()[0] || await browser.newPage();
try {
  await page.goto(url, { waitUntil: 'load' });
  const out = {};
  for (const h of hosts) {
    const card = page.locator(`.host[data-host="${h}"]`);
    await card.waitFor({ timeout: 15000 });
    const role = card.locator('.role');
    out[h] = {
      role: (await role.count()) ? await role.textContent() : null,
      seen: await card.locator('.seen').textContent(),
    };
  }
  await page.screenshot({ path: join(shots, 'dashboard-fleet-roles.png'), fullPage: true });
  console.log(JSON.stringify(out));
} catch (e) {
  console.error(`browser test: ${e.message}`);
  await page.screenshot({ path: join(shots, 'dashboard-fleet-roles-failure.png'), fullPage: true }).catch(() => {});
  code = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
