// The one way the browser tests start Debian's headless Chromium: a fresh profile each run (a
// persistent context is how playwright passes --user-data-dir), and everything that would phone
// home turned off, since the machine has no network beyond loopback.
//
// const { page, close } = await openPage();  ...  finally { await close(); }

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function openPage() {
  const profile = mkdtempSync(join(tmpdir(), 'logwarden-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = browser.pages()[0] || await browser.newPage();
  const close = async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { browser, page, close };
}
