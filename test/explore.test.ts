// The architecture explorer (docs/explore/), built as `npm run demo` builds it and opened in
// headless Chromium from 127.0.0.1: it runs the group photo on cpu-simd at load with every module
// observed; the module tree lists the trace's modules; tapping one shows its shape, MACs and
// receptive field (the trace's, computed here in Node) and statistics of its values equal to the
// Node CPU backend's tap of the same module on the same pixels; the heads view
// shows the faces Node finds, and a face's decode names the anchor whose raw outputs (Node's)
// decode to its box; the page's cpu backend (and gpujs-webgl2 with RETINAFACE_GPU_FULL=1) runs a
// small photo under a 3 MB tap budget (several passes, none over it) with Node's values;
// every description links to a section that the rendered docs/architecture.md has.
// Screenshots go to docs/explore/ (git-ignored: they show a photo of ../shared/images).
// Chromium is required: without it these tests fail, with the reason.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildDemoAssets, buildPage, demoDir } from '../docs/demo/build.js';
import { serveStatic, type StaticServer } from '../docs/demo/static_server.js';
import { RetinaFaceDetector } from '../src/detector.js';
import type { Face } from '../src/detect/postprocess.js';
import { loadWeights } from '../src/weights/convert.js';
import { toNetworkInput } from '../src/image/preprocess.js';
import { anatomy, type Anatomy } from '../src/model/anatomy.js';
import { RetinaFace } from '../src/model/retinaface.js';
import type { Tensor } from '../src/tensor.js';
import type { Tolerance } from '../src/harness/compare.js';
import { launchChromium, type Browser, type Page } from '../src/harness/chromium.js';
import { CPU_VS_TORCH } from './helpers/compare.js';
import { compareFaces } from './helpers/faces.js';
import { groupCropPng } from './helpers/group_crop.js';
import { networkTolerance } from './helpers/gpu_modes.js';
import { DETECTION_PARITY } from './helpers/parity.js';
import { GPU_FULL, sharedDir, sharedImage } from './helpers/paths.js';

const GROUP = 'wider_group.jpg';
/** A backbone block mid-network (after 8 conv_dw blocks) and a head whose rows the page maps onto its level. */
const MODULE = 'body.stage2.3';
const HEAD = 'LandmarkHead.1';
/**
 * Statistics of the page's module against Node's: each backend is within CPU_VS_TORCH (1e-4
 * absolute) of PyTorch on every module output, so the two tensors differ elementwise by at most
 * twice that, and so do their min, max and mean (and std, by the triangle inequality in L2).
 */
const CPU_STATS: Tolerance = { abs: 2 * CPU_VS_TORCH.abs, rel: 0 };
/** gpu.js webgl2 on SwiftShader: its whole-network bound (test/helpers/gpu_modes.ts), applied at the module's largest magnitude. */
const GPU_STATS: Tolerance = networkTolerance('webgl2');
/** Faces of the page (cpu-simd) against Node's (cpu): the project's detection parity bound. */
const FACES = { px: DETECTION_PARITY.px, score: DETECTION_PARITY.score } as const;

interface Stats { min: number; max: number; mean: number; std: number; count: number }
interface ModuleShown { shape: number[]; stats: Stats; macs: number; params: number; geometry: { rf: number; jump: number } | null; maps: { channels: number; factor: number } | null }
interface Summary { arch: string; backend: string; width: number; height: number; modules: number; passes: number; faces: number; keptBytes: number; floatBytes: number; passBytes: number[]; budgetBytes: number }
interface Decode { anchor: number; place: { level: number; step: number; row: number; col: number; minSize: number }; box: number[]; conf: number[]; face: Face; suppressed: number }
interface ExploreApi {
  ready: boolean; error: string | null; runs: number; summary: Summary | null;
  module(path: string): ModuleShown | null; selected(): string | null; decode(): Decode | null; chooseFace(i: number): Decode | null;
  faces(): { score: number; box: Face['box']; landmarks: Face['landmarks']; anchor: number }[]; whenIdle(): Promise<void>;
}
type W = { explore: ExploreApi };

let browser: Browser | null = null;
let server: StaticServer | null = null;
let page: Page;
const consoleErrors: string[] = [];
let node: RetinaFaceDetector;
let nodeTaps: Map<string, Tensor>;
let nodeRaw: { loc: Tensor; conf: Tensor; landms: Tensor };
let nodeFaces: Face[];
let traced: Anatomy;

function nodeStats(t: Tensor): Stats {
  let min = Infinity, max = -Infinity, sum = 0, sq = 0;
  for (const v of t.data) { min = Math.min(min, v); max = Math.max(max, v); sum += v; sq += v * v; }
  const mean = sum / t.data.length;
  return { min, max, mean, std: Math.sqrt(sq / t.data.length - mean * mean), count: t.data.length };
}

function assertStats(got: Stats, want: Stats, tol: Tolerance, what: string): void {
  const bound = tol.abs + tol.rel * Math.max(Math.abs(want.min), Math.abs(want.max));
  assert.is(got.count, want.count, `${what}: values`);
  for (const k of ['min', 'max', 'mean', 'std'] as const) {
    assert.ok(Math.abs(got[k] - want[k]) <= bound, `${what}: ${k} ${got[k]} on the page, ${want[k]} in Node (bound ${bound.toExponential(1)})`);
  }
}

const api = <R>(fn: (e: ExploreApi) => R | Promise<R>) => page.evaluate((f: string) => (0, eval)(f)((window as unknown as W).explore), fn.toString()) as Promise<R>;
const text = (selector: string) => page.evaluate((s: string) => document.querySelector(s)?.textContent ?? null, selector);
/** The page's own signal: a run finished (or failed) after `runs` runs. */
async function runDone(runs: number): Promise<void> {
  await page.waitForFunction((n: string) => { const e = (window as unknown as Partial<W>).explore; return e?.ready === true && (e.runs > Number(n) || e.error !== null); }, String(runs), { timeout: 600_000 });
  assert.is(await api((e) => e.error), null, 'the page reports an error');
}

test.before(async () => {
  const assets = await buildDemoAssets({ imagesDir: path.join(sharedDir, 'images'), download: false, log: () => {} });
  const mobile = assets.weights.find((w) => w.arch === 'mobile0.25');
  if (mobile === undefined) throw new Error(`the demo build found no mobile0.25 weights: ${assets.missing['mobile0.25']}`);
  await buildPage('explore');
  // Node's CPU backend on the same file, the same weights file and the same decoder.
  const w = await loadWeights(path.join(demoDir, mobile.url));
  node = await RetinaFaceDetector.fromTensors(w.tensors, { arch: 'mobile0.25', backend: 'cpu' });
  const bytes = readFileSync(sharedImage(GROUP));
  const img = node.decode(bytes);
  const out = await node.forward(toNetworkInput(img), [MODULE, HEAD]);
  nodeTaps = out.taps;
  nodeRaw = out;
  nodeFaces = (await node.detect(bytes)).filter((f) => f.score >= 0.6);
  traced = await anatomy(new RetinaFace('mobile0.25'), img.height, img.width);

  browser = await launchChromium();
  server = await serveStatic(path.dirname(demoDir), { allowed: ['demo/', 'explore/'] });
  page = await browser.newPage();
  await page.setViewportSize({ width: 1400, height: 1100 });
  page.on('console', (m) => { if (m.type?.() === 'error') consoleErrors.push(m.text?.() ?? ''); });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  await page.goto(`${server.url}/explore/?sample=${GROUP}&backend=cpu-simd`);
  await runDone(0);
});

test.after(async () => {
  node?.dispose();
  await browser?.close();
  await server?.close();
});

test('explore: the group photo runs at load on cpu-simd, every traced module observed, without console errors', async () => {
  assert.equal(consoleErrors, []);
  const s = (await api((e) => e.summary))!;
  assert.is(`${s.arch} ${s.backend} ${s.width}x${s.height}`, 'mobile0.25 cpu-simd 1024x624');
  assert.is(s.modules, traced.modules.length);
  const items = await page.evaluate(() => [...document.querySelectorAll('#tree [data-path]')].map((e) => (e as HTMLElement).dataset.path), null);
  // Each traced module once (a module with children heads its folder, above them).
  assert.equal([...items].sort(), traced.modules.map((m) => m.path).sort(), 'the tree lists the trace\'s module paths');
  // What is kept is the 8-bit maps: at most a quarter of the float outputs' bytes.
  assert.ok(s.keptBytes <= s.floatBytes / 4, `kept ${s.keptBytes} bytes of ${s.floatBytes}`);
});

test(`explore: tapping ${MODULE} shows the trace's shape, MACs and receptive field, and Node's values`, async () => {
  await page.click(`#tree [data-path="${MODULE}"]`);
  assert.is(await text('#module-path'), MODULE);
  const want = traced.modules.find((m) => m.path === MODULE)!;
  assert.is(await text('#fact-shape'), `(${want.shape.join(', ')})`);
  assert.is(await text('#fact-rf'), `${want.geometry!.rf} px`);
  assert.is(await text('#fact-stride'), `${want.geometry!.jump} px`);
  assert.is(await text('#fact-macs'), `${(want.macs / 1e6).toFixed(1)} MMAC`);
  const shown = (await api((e) => e.module('body.stage2.3')))!;
  assert.equal(shown.shape, nodeTaps.get(MODULE)!.shape);
  assertStats(shown.stats, nodeStats(nodeTaps.get(MODULE)!), CPU_STATS, MODULE);
  assert.is(shown.maps?.channels, want.shape[0]);
  // A head's rows are shown as maps of its level: 2 anchors x 10 columns over ssh2's 39 x 64 cells.
  const head = (await api((e) => e.module('LandmarkHead.1')))!;
  assert.is(head.maps?.channels, 20);
  assertStats(head.stats, nodeStats(nodeTaps.get(HEAD)!), CPU_STATS, HEAD);
  await page.screenshot({ path: path.join(path.dirname(demoDir), 'explore', 'screenshot-modules.png') });
});

test('explore: the heads view lists Node\'s faces; a face\'s decode names the anchor whose raw outputs give its box', async () => {
  await page.click('#tab-heads');
  assert.is(await page.evaluate(() => document.getElementById('heads-view')!.hidden, null), false);
  const faces = await api((e) => e.faces());
  const diff = compareFaces(faces.map((f) => ({ score: f.score, box: f.box, landmarks: f.landmarks })), nodeFaces, FACES);
  assert.equal(diff.failures, [], `page faces against Node's (max ${diff.maxPx.toFixed(4)} px)`);
  await page.click('#faces li[data-face="1"]');
  const d = (await api((e) => e.decode()))!;
  assert.is(d.face.score, faces[1]!.score);
  // The anchor's own outputs, from Node's pass: its face score is the face's, and its decode is the box.
  assert.ok(Math.abs(nodeRaw.conf.data[2 * d.anchor + 1]! - d.face.score) <= FACES.score, `conf of anchor ${d.anchor}`);
  d.box.forEach((v, k) => assert.ok(Math.abs(v - d.face.box[k]!) <= 1e-3, `decoded box ${d.box} against the kept box ${d.face.box}`));
  const step = [8, 16, 32][d.place.level]!;
  assert.is(d.place.step, step);
  const [x1, y1, x2, y2] = d.face.box;
  // The anchor's cell lies inside the face it produced, and its min size is within 2.5x of the face's size.
  const cx = (d.place.col + 0.5) * step, cy = (d.place.row + 0.5) * step;
  assert.ok(cx >= x1 && cx <= x2 && cy >= y1 && cy <= y2, `anchor centre (${cx}, ${cy}) outside the box`);
  const side = Math.sqrt((x2 - x1) * (y2 - y1));
  assert.ok(d.place.minSize / side < 2.5 && side / d.place.minSize < 2.5, `min size ${d.place.minSize} for a ${side.toFixed(0)} px face`);
  assert.match((await text('#decode-steps td[data-step="anchor"]'))!, `#${d.anchor} of ${nodeRaw.loc.shape[0]}`);
  await page.screenshot({ path: path.join(path.dirname(demoDir), 'explore', 'screenshot-heads.png') });
  await page.click('#tab-modules');
});

/**
 * The 320x240 crop under a 3 MB tap budget (several passes) on the page's `cpu` backend, and on
 * gpujs-webgl2 with RETINAFACE_GPU_FULL=1 (a pass of it is 1-2 s on SwiftShader; webgl2's whole
 * network is checked against PyTorch by test/browser.test.ts either way).
 */
const CROP_RUNS: [string, Tolerance][] = [['cpu', CPU_STATS], ...(GPU_FULL ? [['gpujs-webgl2', GPU_STATS] as [string, Tolerance]] : [])];
for (const [backend, tol] of CROP_RUNS) {
  test(`explore: ${backend} runs a 320x240 photo under a 3 MB tap budget: several passes, none over it, Node's values`, async () => {
    const { png } = groupCropPng('explore');
    const crop = node.decode(png);
    const want = (await node.forward(toNetworkInput(crop), [MODULE])).taps.get(MODULE)!;
    await page.goto(`${server!.url}/explore/?backend=${backend}&run=0&tap_mb=3`);
    await page.waitForFunction(() => (window as unknown as Partial<W>).explore?.ready === true, '', { timeout: 120_000 });
    await page.setInputFiles('#file', { name: 'group-crop.png', mimeType: 'image/png', buffer: Buffer.from(png) });
    await runDone(0);
    const s = (await api((e) => e.summary))!;
    assert.is(`${s.width}x${s.height}`, '320x240');
    assert.ok(s.backend.startsWith(backend), s.backend);
    assert.is(s.budgetBytes, 3 * 1024 * 1024);
    assert.ok(s.passes > 1, `${s.passes} passes`);
    // A pass reads at most the budget, or one module output larger than it on its own.
    const largest = Math.max(...(await anatomy(new RetinaFace('mobile0.25'), 240, 320)).modules.map((m) => 4 * m.shape.reduce((a, b) => a * b, 1)));
    for (const b of s.passBytes) assert.ok(b <= Math.max(s.budgetBytes, largest), `a pass read ${b} bytes`);
    assertStats((await api((e) => e.module('body.stage2.3')))!.stats, nodeStats(want), tol, `${MODULE} on ${backend}`);
  });
}

test('explore: every module description links to a section of the rendered docs/architecture.md', async () => {
  const html = readFileSync(path.join(path.dirname(demoDir), 'explore', 'lib', 'architecture.html'), 'utf8');
  const ids = new Set([...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]));
  const hrefs = new Set<string>();
  for (const m of traced.modules) {
    await page.click(`#tree [data-path="${m.path}"]`);
    hrefs.add((await page.evaluate(() => document.querySelector('#module-about a')?.getAttribute('href') ?? '', null))!);
  }
  assert.ok(hrefs.size >= 3, `links: ${[...hrefs].join(', ')}`);
  for (const h of hrefs) {
    const [file, anchor] = h.split('#');
    assert.is(file, 'lib/architecture.html');
    assert.ok(ids.has(anchor!), `docs/architecture.md has no section #${anchor}`);
  }
});

test.run();
