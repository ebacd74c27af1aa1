// The collector's web page names the hosts that run no agent (a BMC, a hypervisor, a filer) as
// such, with the hosts they serve, in real headless Chromium. Started by tests/tests/web_page.rs.
//
// usage: node fleet_roles.mjs URL SCREENSHOT_DIR HOST...
// Prints one JSON line ({"HOST": {"role": text or null, "seen": text}, ...}) on success; exits 1
// with the reason otherwise.

import { openPage } from './chromium.mjs';
import { join } from 'node:path';

const [url, shots, ...hosts] = process.argv.slice(2);
if (!url || !shots || !hosts.length) {
  console.error('usage: node fleet_roles.mjs URL SCREENSHOT_DIR HOST...');
  process.exit(2);
}

const { page, close } = await openPage();
let code = 0;
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
  await close();
}
process.exit(code);
