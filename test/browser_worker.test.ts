// The detector worker in headless Chromium (issue 23, item 4): loadWorkerDetector from the
// prebuilt bundle runs the detector in a module Web Worker. What must hold: every kind of image a
// page holds reaches the worker with its pixels intact (the faces equal Node's on the same
// backend, exactly for cpu), what is documented as handed over is handed over and the rest is
// copied, the main thread keeps running while the worker computes, and errors cross back as
// RetinaFaceErrors with their codes.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundle } from '../docs/demo/build.js';
import type { Face } from '../src/detect/postprocess.js';
import type { BackendAvailability } from '../src/backends/availability.js';
import { serveStatic } from '../docs/demo/static_server.js';
import { launchChromium, openHarnessPage, type HarnessPage } from '../src/harness/chromium.js';
import type { RunResult } from './browser/worker_page.js';
import { compareFaces } from './helpers/faces.js';
import { convertedWeightsUrl } from './helpers/gpu_weights.js';
import { cacheDir, repoRoot, sharedImage } from './helpers/paths.js';
import { groupCropPng, nodeCpuFaces } from './helpers/group_crop.js';

/**
 * cpu-simd or gpu.js in the worker against cpu in Node: the bound of test/browser_inputs.test.ts
 * and the gpu backends' (float32 sums in another order).
 */
const SIMD_VS_CPU = { px: 0.5, score: 1e-3 };

let harness: HarnessPage;
let weightsUrl: string;
let pngUrl: string;
let groupUrl: string;
let nodeFaces: Face[];

test.before(async () => {
  await buildBundle();
  weightsUrl = await convertedWeightsUrl('mobile0.25');
  const crop = groupCropPng('worker');
  pngUrl = crop.url;
  const dir = cacheDir('browser', 'worker');
  writeFileSync(path.join(dir, 'group.jpg'), readFileSync(sharedImage('wider_group.jpg')));
  groupUrl = '/' + path.relative(repoRoot, path.join(dir, 'group.jpg')).split(path.sep).join('/');
  nodeFaces = await nodeCpuFaces(weightsUrl, crop.png);
  harness = await openHarnessPage(repoRoot, 'test/browser/worker.html', 'workerPage');
});

test.after(async () => {
  await harness?.close();
});

const run = (backend: string | undefined) =>
  harness.page.evaluate(([w, p, b]) => (globalThis as any).workerPage.run(w, p, b), ['../..' + weightsUrl, pngUrl, backend]) as Promise<RunResult>;

test('cpu in the worker: every kind of input gives Node\'s faces exactly; bitmaps handed over, the rest copied unless asked', async () => {
  assert.ok(nodeFaces.length >= 3, `${nodeFaces.length} faces in the crop`);
  const r = await run('cpu');
  assert.is(r.backend, 'cpu-fast');
  assert.is(r.arch, 'mobile0.25');
  assert.equal(r.results.map((x) => [x.kind, x.after]), [
    ['PNG bytes, copied', 'kept'], ['PNG bytes, transfer: true', 'handed over'], ['ImageBitmap', 'handed over'],
    ['ImageData', 'kept'], ['HTMLCanvasElement', 'kept'], ['HTMLImageElement', 'kept'],
  ]);
  for (const x of r.results) {
    console.log(`  [chromium worker ${x.kind}] ${x.error ?? `${x.faces.length} faces`}, ${x.after}`);
    assert.is(x.error, undefined, `${x.kind}: ${x.error}`);
    assert.equal(x.faces, nodeFaces, `${x.kind}: the faces equal Node's`);
  }
});

test('the worker\'s default backend is auto: cpu-simd on the page\'s cores (the page is cross-origin isolated), faces within the SIMD bound', async () => {
  const r = await run(undefined);
  assert.is(r.backend, 'cpu-simd');
  assert.is(r.why, 'auto chose cpu-simd: WebAssembly SIMD compiles here');
  const cores = await harness.page.evaluate(() => navigator.hardwareConcurrency, null);
  assert.is(r.threads, cores, 'threads: every core, from inside the worker');
  assert.ok(r.progressCalls >= 1, 'weights progress reached the page');
  for (const x of r.results) {
    assert.is(x.error, undefined, `${x.kind}: ${x.error}`);
    const d = compareFaces(x.faces, nodeFaces, SIMD_VS_CPU);
    assert.equal(d.failures, [], x.kind);
  }
  console.log(`  [chromium worker auto] ${r.backend}, ${r.threads} threads: ${r.results[0]!.faces.length} faces on each of ${r.results.length} inputs`);
});

test('gpu.js in the worker (webgl2 on an OffscreenCanvas; gpu.js loaded into the worker by the bundle): Node\'s faces within the gpu bound', async () => {
  const r = await harness.page.evaluate(([w, p]) => (globalThis as any).workerPage.single(w, p, 'gpujs-webgl2'), [weightsUrl, pngUrl]) as { backend: string; faces: Face[] };
  assert.is(r.backend, 'gpujs-webgl2');
  const d = compareFaces(r.faces, nodeFaces, SIMD_VS_CPU);
  console.log(`  [chromium worker gpujs-webgl2] ${r.faces.length} faces, max ${d.maxPx.toExponential(2)} px, score ${d.maxScore.toExponential(2)} from Node's cpu`);
  assert.equal(d.failures, []);
});

test('the page\'s thread runs while the worker computes a forward pass', async () => {
  const r = await harness.page.evaluate(([w, g]) => (globalThis as any).workerPage.responsive(w, g), [weightsUrl, groupUrl]) as
    { forwardMs: number; waitedMs: number; ticks: number; maxGapMs: number; faces: number };
  console.log(`  [chromium worker] cpu forward ${r.forwardMs.toFixed(0)} ms (${r.waitedMs.toFixed(0)} ms awaited, ${r.faces} faces); meanwhile the page's timer ran ${r.ticks} times, longest gap ${r.maxGapMs.toFixed(1)} ms`);
  assert.is(r.faces, 26);
  // On the page's thread, the timer could not run at all until the forward pass ended: its
  // longest gap would be at least the forward's length.
  assert.ok(r.ticks >= 2, `the timer ran ${r.ticks} times`);
  assert.ok(r.maxGapMs < r.forwardMs, `longest gap ${r.maxGapMs} ms vs forward ${r.forwardMs} ms`);
});

test('errors cross back as RetinaFaceErrors with their codes; a missing worker script is EWORKER', async () => {
  const lines = await harness.page.evaluate((w) => (globalThis as any).workerPage.refusals(w), '../..' + weightsUrl) as string[];
  for (const l of lines) console.log(`  [chromium worker] ${l}`);
  assert.equal(lines.length, 7);
  assert.match(lines[0]!, /^missing weights: EDOWNLOAD .*no\/such\/weights\.safetensors.*404/);
  assert.match(lines[1]!, /^missing worker script: EWORKER the detector worker failed/);
  assert.match(lines[2]!, /^corrupt PNG: E\w+ .*PNG/);
  assert.match(lines[3]!, /^a string: EIMAGE .*expected JPEG or PNG bytes/);
  assert.match(lines[4]!, /^raw outputs asked of a worker: EOPTION invalid option raw: true \(a worker detector hands back no raw outputs\); the bitmap still 4x3$/);
  assert.match(lines[5]!, /^raw given to detect\(\): EOPTION unknown option raw; the bitmap still 4x3$/);
  assert.match(lines[6]!, /^after dispose: EDISPOSED the detector was disposed/);
});

test('probeWorkerBackends: what runs inside a worker, with reasons', async () => {
  const list = await harness.page.evaluate(() => (globalThis as any).workerPage.probe(), null) as BackendAvailability[];
  for (const a of list) console.log(`  [chromium worker probe] ${a.spec}: ${a.ok ? 'yes' : 'no'} (${a.reason})`);
  assert.equal(list.map((a) => a.spec), ['cpu-simd', 'cpu', 'gpujs-webgpu', 'gpujs-webgl2', 'gpujs-webgl', 'gpujs-webasm', 'gpujs-cpu']);
  const simd = list.find((a) => a.spec === 'cpu-simd')!;
  assert.ok(simd.ok, simd.reason);
  assert.match(simd.reason, /threads \(cross-origin isolated\)/);
});

test('examples/web-worker, assembled as its README says (page, lib/ = dist/browser/, weights/), finds the group photo\'s faces in its worker', async () => {
  const site = cacheDir('browser', 'web-worker-site');
  rmSync(site, { recursive: true, force: true });
  mkdirSync(path.join(site, 'weights'), { recursive: true });
  for (const f of ['index.html', 'main.js']) cpSync(path.join(repoRoot, 'examples', 'web-worker', f), path.join(site, f));
  cpSync(path.join(repoRoot, 'dist', 'browser'), path.join(site, 'lib'), { recursive: true });
  cpSync(path.join(repoRoot, weightsUrl), path.join(site, 'weights', 'retinaface-mobile0.25.safetensors'));
  cpSync(sharedImage('wider_group.jpg'), path.join(site, 'group.jpg'));
  const server = await serveStatic(site, { allowed: [''], index: 'index.html' });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message ?? ''));
    await page.goto(`${server.url}/index.html?image=group.jpg`);
    // the page's own signal: its output line names the faces, or the error
    await page.waitForFunction(() => /faces in|error/.test(document.getElementById('out')!.textContent ?? ''), '', { timeout: 120_000 });
    const text = await page.evaluate(() => document.getElementById('out')!.textContent!, null);
    console.log(`  [chromium examples/web-worker] ${text.split('\n')[0]}`);
    assert.match(text, /^group\.jpg: 26 faces in \d+ ms on cpu-simd, \d+ threads?, in a Web Worker \(the page drew \d+ frames meanwhile\)/);
    assert.equal(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test.run();
