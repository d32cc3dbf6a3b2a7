// Headless Chromium for the gpu.js browser modes, shared by the tests (test/browser.test.ts) and
// the benchmarks' browser proxy (bench/browser_proxy.ts): the binary, the flags the project
// prescribes (SwiftShader for WebGL and WebGPU, nothing phoning home), a static server on
// 127.0.0.1 and one page that has defined its global `ready` object.
import { existsSync } from 'node:fs';
import { serveStatic, type StaticServer } from './server.js';

export const CHROMIUM = process.env.RETINAFACE_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-angle=swiftshader'];

/** The few members of playwright-core's Page used here (typed locally: a dev dependency). */
export interface Page {
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  on(event: string, cb: (x: { text?: () => string; message?: string; type?: () => string }) => void): void;
  goto(url: string): Promise<unknown>;
  waitForFunction(fn: (name: string) => unknown, arg: string, opts: { timeout: number }): Promise<unknown>;
  addInitScript(fn: () => void): Promise<void>;
  selectOption(selector: string, value: string): Promise<string[]>;
  setInputFiles(selector: string, files: { name: string; mimeType: string; buffer: Buffer }): Promise<void>;
  click(selector: string): Promise<void>;
  screenshot(opts: { path: string; fullPage?: boolean }): Promise<Buffer>;
  setViewportSize(size: { width: number; height: number }): Promise<void>;
  context(): { newCDPSession(page: Page): Promise<CdpSession> };
  close(): Promise<void>;
}
export interface CdpSession {
  send(method: string, params?: object): Promise<Record<string, unknown>>;
}
export interface Browser { newPage(): Promise<Page>; close(): Promise<void> }

export interface HarnessPage {
  page: Page;
  close(): Promise<void>;
}

/** Why Chromium cannot run here (playwright-core or the binary missing), or null. */
export class ChromiumUnavailable extends Error {}

/**
 * Serves the repository root (see server.ts for what is served), opens `pagePath` in headless
 * Chromium and waits until the page has defined `globalThis[ready]`. Throws ChromiumUnavailable
 * naming what is missing.
 */
export async function openHarnessPage(root: string, pagePath: string, ready: string, extraServed: readonly string[] = []): Promise<HarnessPage> {
  const browser = await launchChromium();
  let server: StaticServer | null = null;
  try {
    server = await serveStatic(root, extraServed);
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.log(`  [chromium] page error: ${e.message}`));
    await page.goto(`${server.url}/${pagePath}`);
    await page.waitForFunction((name) => (globalThis as Record<string, unknown>)[name] !== undefined, ready, { timeout: 60_000 });
    const s = server;
    return { page, close: async () => { await browser.close(); await s.close(); } };
  } catch (e) {
    await browser.close();
    await server?.close();
    throw e;
  }
}

/** Headless Chromium with CHROMIUM_ARGS and `extraArgs`; throws ChromiumUnavailable naming what is missing. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  let chromium: { launch(o: object): Promise<Browser> };
  try {
    ({ chromium } = await import('playwright-core' as string) as { chromium: typeof chromium });
  } catch (e) {
    throw new ChromiumUnavailable(`playwright-core is not installed (${(e as Error).message.split('\n')[0]})`);
  }
  if (!existsSync(CHROMIUM)) throw new ChromiumUnavailable(`no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set RETINAFACE_CHROMIUM)`);
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] });
}
