// Debian's chromium driven by playwright-core (no browser download works on these machines).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { requireBinary } from './binaries.js';

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Headless chromium with a fresh profile and no background networking (the machine has no internet). */
export async function launchChromium(): Promise<TestBrowser> {
  const executablePath = requireBinary(['chromium', 'chromium-browser'], 'REGCACHE_CHROMIUM_BIN');
  const profile = await mkdtemp(join(tmpdir(), 'regcache-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
