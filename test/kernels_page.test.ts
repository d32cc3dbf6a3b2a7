// The kernel benchmark page (docs/kernels/), built as `npm run demo` builds it and opened in
// headless Chromium from 127.0.0.1 with the cross-origin isolation headers: a tiny grid (one small
// resolution, a few cases of every kind through the page's case filter, one mobile0.25 forward
// pass) on gpujs-webgl2 (SwiftShader here) and cpu-simd on every thread the page may have. Every
// cell is checked against the naive loops within its backend's tolerance before it is timed, the
// convolutions report GFLOP/s; the JSON downloaded through the page's button parses (parseRun) and
// renders with bench/report.ts, naming those backends and cases; Stop ends a run after the cell in
// progress; a bad filter is one line on the page, which keeps working. Writes
// docs/kernels/screenshot.png (git-ignored). Chromium is required: without it this test fails,
// with the reason.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { e2eChart, kernelChart, renderMarkdown } from '../bench/report.js';
import { parseRun, type RunResult } from '../bench/results.js';
import { buildPage } from '../docs/demo/build.js';
import { serveStatic, type StaticServer } from '../docs/demo/static_server.js';
import { launchChromium, type Browser, type Page } from '../src/harness/chromium.js';
import { toleranceFor } from '../src/harness/tolerances.js';
import { repoRoot } from './helpers/paths.js';

const GRID = {
  resolutions: ['160x120'],
  backends: ['gpujs-webgl2', 'cpu-simd'],
  archs: ['mobile0.25'],
  seconds: 240,
  // Of each kind: a depthwise, a pointwise and a dense 3x3 of mobile0.25, upsample + add, concat, softmax.
  filter: '^(depthwise 3x3/1 8->8 @1/2|pointwise 1x1 8->16 @1/2|dense 3x3/1 64->64 @1/8|upsample\\+add 64ch @1/8|cat\\+relu 32\\+16\\+16ch @1/8|head permute)',
};
const CASES = ['depthwise 3x3/1 8->8 @1/2', 'pointwise 1x1 8->16 @1/2', 'dense 3x3/1 64->64 @1/8', 'upsample+add 64ch @1/8', 'cat+relu 32+16+16ch @1/8', 'head permute + softmax (A, 2) @1/8'];

/** playwright-core's download, typed locally (a dev dependency; src/harness/chromium.ts types what the other tests use). */
interface Download {
  suggestedFilename(): string;
  path(): Promise<string | null>;
}
type DownloadingPage = Page & { waitForEvent(event: 'download', opts: { timeout: number }): Promise<Download> };

interface KernelsApi {
  ready: boolean;
  running: boolean;
  cells: { done: number; total: number };
  backends: { spec: string; ok: boolean; reason: string }[];
  error: string | null;
  run(opts: object): Promise<void>;
  stop(): void;
  result(): RunResult | null;
}
/** In page callbacks (serialized into the page: they may not call functions of this file). */
type W = { kernels: KernelsApi };

const pagesDir = path.join(repoRoot, 'docs');
let browser: Browser | null = null;
let server: StaticServer | null = null;
let page: DownloadingPage;
const consoleErrors: string[] = [];
let run: RunResult;

test.before(async () => {
  await buildPage('kernels');
  browser = await launchChromium();
  server = await serveStatic(pagesDir, { allowed: ['kernels/'] });
  page = await browser.newPage() as DownloadingPage;
  await page.setViewportSize({ width: 1280, height: 1000 });
  page.on('console', (m) => { if (m.type?.() === 'error') consoleErrors.push(m.text?.() ?? ''); });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  await page.goto(`${server.url}/kernels/`);
  await page.waitForFunction(() => (window as unknown as Partial<W>).kernels?.ready === true, '', { timeout: 60_000 });
});

test.after(async () => {
  await browser?.close();
  await server?.close();
});

test('kernels page: loads cross-origin isolated, offers gpujs-webgl2 and cpu-simd, without console errors', async () => {
  const s = await page.evaluate(() => ({ backends: (window as unknown as W).kernels.backends, isolated: globalThis.crossOriginIsolated }), null);
  assert.ok(s.isolated, 'the page is cross-origin isolated (cpu-simd may use threads)');
  for (const spec of GRID.backends) {
    const b = s.backends.find((x) => x.spec === spec);
    assert.ok(b?.ok === true, `${spec} is offered (${b?.reason ?? 'not listed'})`);
  }
  assert.equal(consoleErrors, [], 'console errors');
});

test('kernels page: a tiny grid on gpujs-webgl2 and cpu-simd, every cell checked against the naive loops, then timed', async () => {
  const t0 = performance.now();
  await page.evaluate((o) => (window as unknown as W).kernels.run(o), GRID);
  run = (await page.evaluate(() => (window as unknown as W).kernels.result(), null))!;
  const s = await page.evaluate(() => { const k = (window as unknown as W).kernels; return { cells: k.cells, progress: (document.getElementById('progress') as HTMLProgressElement).value, error: k.error }; }, null);
  assert.is(s.error, null);
  const simd = run.backends.find((b) => b.name.startsWith('cpu-simd-'))!;
  assert.ok(/^cpu-simd-\d+t$/.test(simd.name) && simd.skipped === undefined, `cpu-simd ran: ${JSON.stringify(simd)}`);
  const names = ['gpujs-webgl2', simd.name];
  assert.equal([...new Set(run.kernels.map((k) => k.backend))].sort(), [...names].sort());
  assert.is(run.kernels.length, CASES.length * names.length, 'one cell per case and backend');
  assert.is(s.cells.done, s.cells.total);
  assert.is(s.cells.total, run.kernels.length + run.e2e.length);
  assert.is(s.progress, 1);
  for (const k of run.kernels) {
    const where = `${k.id} on ${k.backend}`;
    assert.ok(CASES.includes(k.id), where);
    assert.is(k.skipped, undefined, `${where} was timed`);
    assert.ok(k.check?.ok === true, `${where}: ${k.check?.message ?? 'no check'}`);
    const tol = toleranceFor(k.backend);
    assert.ok(Number.isFinite(k.check!.maxAbsError) && k.check!.maxAbsError <= 10 * (tol.abs + tol.rel), `${where}: max error ${k.check!.maxAbsError} (tolerance abs ${tol.abs} + rel ${tol.rel})`);
    assert.ok(k.timing!.firstMs > 0 && k.timing!.samples > 0 && k.timing!.medianMs > 0, `${where}: ${JSON.stringify(k.timing)}`);
    if (k.op === 'conv') assert.ok(k.gflops! > 0 && k.macs! > 0, `${where}: ${k.gflops} GFLOP/s`);
    else assert.ok(k.gbps! > 0, `${where}: ${k.gbps} GB/s`);
  }
  assert.is(run.e2e.length, names.length);
  for (const e of run.e2e) {
    assert.is(e.skipped, undefined, `${e.contestant}: ${e.skipped}`);
    assert.ok(e.check?.ok === true, `${e.contestant}: ${e.check?.message}`);
    assert.ok(e.stages.forward!.samples > 0 && e.stages.forward!.medianMs > 0, `${e.contestant}: ${JSON.stringify(e.stages.forward)}`);
  }
  assert.ok(run.machine.cores > 0 && run.machine.webgl !== undefined && run.machine.browser !== undefined, JSON.stringify(run.machine));
  const rate = (id: string, b: string) => run.kernels.find((k) => k.id === id && k.backend === b)!;
  console.log(`  [kernels] the grid took ${((performance.now() - t0) / 1000).toFixed(1)} s; at 160x120 (SwiftShader for WebGL):\n` +
    CASES.map((id) => `    ${id.padEnd(36)} ${names.map((b) => { const k = rate(id, b); return `${b} ${(k.gflops ?? k.gbps)!.toFixed(2)} ${k.gflops !== undefined ? 'GFLOP/s' : 'GB/s'}`; }).join(', ')}`).join('\n') +
    `\n    mobile0.25 forward: ${run.e2e.map((e) => `${e.contestant} ${e.stages.forward!.medianMs.toFixed(1)} ms`).join(', ')}`);
});

test('kernels page: the JSON downloaded through the page renders with bench/report.ts, naming every backend and case', async () => {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), page.click('#download')]);
  assert.ok(/^retinaface-kernels-\d{4}-\d\d-\d\d.*\.json$/.test(download.suggestedFilename()), download.suggestedFilename());
  const file = await download.path();
  assert.ok(file !== null, 'the download was saved');
  const back = parseRun(readFileSync(file!, 'utf8'), download.suggestedFilename());
  assert.is(back.mode, 'page');
  assert.is(back.kernels.length, run.kernels.length);
  assert.equal(back.e2e.map((e) => e.contestant), run.e2e.map((e) => e.contestant));
  const md = renderMarkdown(back, download.suggestedFilename());
  assert.ok(md.includes('a run of the kernel page'), 'the report says where the run comes from');
  assert.ok(md.includes(`| WebGL renderer | ${back.machine.webgl}`), 'the report names the WebGL renderer');
  for (const b of new Set(back.kernels.map((k) => k.backend))) assert.ok(md.includes(`### ${b}\n`), `a kernel table for ${b}`);
  for (const id of CASES) assert.ok(md.includes(`| ${id} | `), `a row for ${id}`);
  for (const e of back.e2e) assert.ok(md.includes(`| 160x120 | ${e.contestant} |`), `a forward row for ${e.contestant}`);
  assert.ok(!md.includes('FAILED CHECK'));
  const svg = kernelChart(back) + e2eChart(back, 'mobile0.25');
  for (const b of new Set(back.kernels.map((k) => k.backend))) assert.ok(svg.includes(`>${b}</text>`), `the charts' legends name ${b}`);
});

test('kernels page: a screenshot is written for docs/kernels/README.md', async () => {
  const file = path.join(pagesDir, 'kernels', 'screenshot.png');
  const png = await page.screenshot({ path: file, fullPage: true });
  assert.ok(png.length > 10_000);
  console.log(`  [kernels] screenshot: ${path.relative(repoRoot, file)} (${(png.length / 1024).toFixed(0)} KB)`);
});

test('kernels page: a bad case filter is one line on the page; Stop ends a run after the cell in progress', async () => {
  const rejected = await page.evaluate(() => (window as unknown as W).kernels.run({ filter: '(' }).then(() => 'resolved', (e: Error) => e.message), null);
  assert.ok(rejected.startsWith('Cases: "("'), rejected);
  assert.is(await page.evaluate(() => (window as unknown as W).kernels.error, null), rejected);
  // Every conv shape at 160x120 on cpu-simd, stopped after the third cell.
  await page.evaluate(() => { void (window as unknown as W).kernels.run({ backends: ['cpu-simd'], archs: [], filter: '' }); }, null);
  await page.waitForFunction(() => (window as unknown as W).kernels.running && (window as unknown as W).kernels.cells.total > 0 && (window as unknown as W).kernels.cells.done >= 3, '', { timeout: 60_000 });
  await page.click('#stop');
  await page.waitForFunction(() => !(window as unknown as W).kernels.running, '', { timeout: 30_000 });
  const r = (await page.evaluate(() => (window as unknown as W).kernels.result(), null))!;
  const s = await page.evaluate(() => ({ cells: (window as unknown as W).kernels.cells, error: (window as unknown as W).kernels.error }), null);
  assert.is(s.error, null, 'the error line is cleared by the next run');
  assert.is(r.kernels.length, s.cells.total, 'every planned cell is recorded');
  const stopped = r.kernels.filter((k) => k.skipped === 'stopped').length;
  assert.ok(stopped > 0 && stopped < r.kernels.length - 2, `${stopped} of ${r.kernels.length} cells stopped`);
  assert.equal(consoleErrors, [], 'console errors');
});

test.run();
