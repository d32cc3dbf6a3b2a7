// The gpu.js browser modes (webgl2, webgpu, webgl) in headless Chromium on SwiftShader, driven by
// playwright-core from a page that loads the library's browser build (test/browser/). Per mode:
// the harness's op grid (src/harness/cases.ts, both variants), the whole network against PyTorch's tensors (computed in Node,
// written with the input into .cache/browser/ and fetched by the page), only three readbacks per
// pass, the faces on the 2048x1150 selfie against the CPU backend's, and the leak check (100
// forward passes: live textures/buffers flat; dispose() returns to zero). The heaviest cases (640x640
// and the selfie on SwiftShader) run with RETINAFACE_GPU_FULL=1: see NETWORK_CASES.
// Chromium and playwright-core are required where CI requires the browser modes (see
// src/harness/modes.ts); elsewhere their absence is reported, with the reason.
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { GpuJsMode } from '../src/backends/gpu_instance.js';
import type { Arch } from '../src/model/config.js';
import { writeTensorFile } from '../src/weights/files.js';
import { ChromiumUnavailable, openHarnessPage, type HarnessPage, type Page } from '../src/harness/chromium.js';
import { BROWSER_MODES, requiredModes } from '../src/harness/modes.js';
import { EVICTION_SIZES, UPLOADS_PER_SIZE } from './helpers/gpu_modes.js';
import { compareFaces, cpuFaces, GPU_FACES_TOLERANCE } from './helpers/faces.js';
import { convertedWeightsUrl, gpuTestCheckpoint, loadGpuTestModel } from './helpers/gpu_weights.js';
import { namedInput, type InputId } from './helpers/inputs.js';
import { referenceModuleNames, torchReference } from './helpers/reference.js';
import type { Face } from '../src/detect/postprocess.js';
import { opCases } from '../src/harness/cases.js';
import { failureReport, type CaseResult } from '../src/harness/run.js';
import { cacheDir, repoRoot, GPU_FULL } from './helpers/paths.js';

/**
 * Whole-network cases in the browser, against PyTorch. SwiftShader is a software rasteriser on
 * CI's two shared cores (mobile0.25 at 640x640: 30-55 s a pass on webgl2, 40-67 s on webgpu;
 * resnet50 is ~50x the work), so by default each mode runs mobile0.25 on a small odd crop
 * (49x65: maps of 7x9, 4x5 and 2x3, odd at every level, the upsampling not 2x), resnet50 there
 * with RETINAFACE_GPU_FULL=1 (see networkCases); 640x640 and
 * 333x517 run against PyTorch on the CPU backends and gpu.js webasm in Node
 * (test/network.test.ts, test/gpu_network.test.ts). RETINAFACE_GPU_FULL=1 adds mobile0.25 at
 * 333x517 and 640x640 and resnet50 at 333x517 and 640x640 here.
 */
const NETWORK_CASES: [Arch, InputId][] = [['mobile0.25', 'odd49x65'], ['resnet50', 'odd49x65'],
  ...(GPU_FULL ? [['mobile0.25', 'odd333x517'], ['mobile0.25', 'group640'], ['resnet50', 'odd333x517'], ['resnet50', 'group640']] as [Arch, InputId][] : [])];
/**
 * Passes of the leak check: device objects must be equal after every pass from the second on, so
 * one object kept per pass shows after 3; 20 by default (a leak every few passes, e.g. on a
 * pool's growth, shows too), 100 with RETINAFACE_GPU_FULL=1.
 */
const LEAK_RUNS = GPU_FULL ? 100 : 20;
const required = requiredModes();

let harness: HarnessPage | null = null;
let page: Page | null = null;
let unavailable = '';
const available = new Map<GpuJsMode, string | null>();

/** PyTorch's tensors of one case and the input tensor ('input'), in one file for the page: its URL path. */
async function writeReference(arch: Arch, id: InputId): Promise<string> {
  const x = namedInput(id);
  const ref = await torchReference(arch, await gpuTestCheckpoint(arch), x);
  const name = `torch-${arch}-${id}.rfw`;
  await writeTensorFile(path.join(cacheDir('browser'), name), [...ref, ['input', x]]);
  return `/.cache/browser/${name}`;
}

/** The selfie's input tensor for the page. */
async function writeInput(id: InputId): Promise<string> {
  const name = `input-${id}.rfw`;
  await writeTensorFile(path.join(cacheDir('browser'), name), [['input', namedInput(id)]]);
  return `/.cache/browser/${name}`;
}

let selfieFaces: Face[] | null = null;

test.before(async () => {
  try {
    harness = await openHarnessPage(repoRoot, 'test/browser/index.html', 'harness');
  } catch (e) {
    if (!(e instanceof ChromiumUnavailable)) throw e;
    unavailable = e.message;
    return;
  }
  page = harness.page;
  for (const mode of BROWSER_MODES) {
    const a = await page.evaluate((m) => (globalThis as any).harness.probe(m), mode) as { ok: boolean; reason: string };
    available.set(mode, a.ok ? null : a.reason);
  }
});

test.after(async () => {
  await harness?.close();
});

/** Runs body for a mode when Chromium runs it; otherwise fails (required) or reports why not. */
function browserTest(mode: GpuJsMode, what: string, body: (page: Page) => Promise<void>): void {
  test(`chromium gpujs ${mode}: ${what}`, async () => {
    const why = page === null ? unavailable : available.get(mode);
    if (why !== null && why !== undefined) {
      if (required.has(mode)) assert.unreachable(`gpu.js mode ${mode} (Chromium) is required here but not available: ${why}`);
      console.log(`  [chromium ${mode}] NOT RUN on this machine: ${why}`);
      return;
    }
    await body(page!);
  });
}

/**
 * The op grid runs fused on webgl2 and webgpu, the reference (one kernel per PyTorch op) variant
 * on webgl2; both variants on every mode, WebGL 1 included (no CI target), with
 * RETINAFACE_GPU_FULL=1 (each grid is 10-25 s on SwiftShader).
 */
const gridVariants = (mode: GpuJsMode) => (GPU_FULL ? ['fused', 'reference'] as const
  : mode === 'webgl2' ? ['fused', 'reference'] as const : mode === 'webgpu' ? ['fused'] as const : [] as const);
/**
 * ResNet-50 (13-30 s a pass at 49x65 on SwiftShader) with RETINAFACE_GPU_FULL=1: by default its
 * GL kernels are checked whole-network on headlessgl in Node (test/gpu_network.test.ts), and
 * webgl2 and webgpu run mobile0.25 here (and the explorer's webgl2 run, test/explore.test.ts).
 */
const networkCases = (mode: GpuJsMode) => mode === 'webgl' && !GPU_FULL ? []
  : NETWORK_CASES.filter(([arch]) => arch === 'mobile0.25' || GPU_FULL);

for (const mode of BROWSER_MODES) {
  for (const variant of gridVariants(mode)) {
    browserTest(mode, `${variant}: every op case equals the naive loops (the harness's grid)`, async (p) => {
      const results = await p.evaluate(([m, v]) => (globalThis as any).harness.cases(m, v), [mode, variant]) as CaseResult[];
      assert.is(results.length, opCases({ small: false }).length);
      if (results.some((r) => !r.ok)) assert.unreachable(failureReport(results));
      console.log(`  [chromium ${mode} ${variant}] ${results.length} cases, max abs error ${Math.max(...results.map((r) => r.maxAbsError)).toExponential(2)}`);
    });
  }

  // WebGL 1 is no CI target: its op grid, whole-network and selfie cases run with RETINAFACE_GPU_FULL=1.
  for (const [arch, id] of networkCases(mode)) {
    browserTest(mode, `${arch} ${id}: every module output and loc/conf/landms equal PyTorch's`, async (p) => {
      const ref = await writeReference(arch, id);
      const weights = await convertedWeightsUrl(arch);
      const r = await p.evaluate(([m, a, wu, u]) => (globalThis as any).harness.network(m, a, wu, u), [mode, arch, weights, ref]) as {
        failures: string[]; worst: number; worstName: string; compared: string[]; launches: number; readbacks: number; tappedMs: number; ms: number;
      };
      if (r.failures.length > 0) assert.unreachable(`${r.failures.length} of ${r.compared.length} tensors out of tolerance:\n  ${r.failures.slice(0, 8).join('\n  ')}`);
      const missing = [...referenceModuleNames(arch), 'loc', 'conf', 'landms'].filter((n) => !r.compared.includes(n) && !['body.conv1', 'body.bn1'].includes(n));
      assert.equal(missing, [], 'module outputs not compared');
      assert.is(r.readbacks, 3, 'only loc, conf and landms are read back');
      const [, h, w] = namedInput(id).shape;
      console.log(`  [chromium ${mode} ${arch} ${h}x${w}] ${r.compared.length} tensors vs PyTorch, max abs error ${r.worst.toExponential(2)} (${r.worstName}); ` +
        `${r.launches} launches, ${r.readbacks} readbacks; forward ${r.ms.toFixed(0)} ms (SwiftShader: software)`);
    });
  }

  // The 2048x1150 selfie (750 faces) takes 1-2 minutes a pass on SwiftShader: by default it runs
  // on one gpu.js mode, webasm in Node (test/gpu_network.test.ts); here with RETINAFACE_GPU_FULL=1.
  if (GPU_FULL) {
    browserTest(mode, `the faces on the 2048x1150 selfie equal the CPU backend's (boxes ${GPU_FACES_TOLERANCE.px} px, scores ${GPU_FACES_TOLERANCE.score})`, async (p) => {
      const input = await writeInput('selfie');
      const weights = await convertedWeightsUrl('mobile0.25');
      selfieFaces ??= await cpuFaces(await loadGpuTestModel('mobile0.25'), namedInput('selfie'));
      const r = await p.evaluate(([m, wu, u]) => (globalThis as any).harness.faces(m, wu, u), [mode, weights, input]) as { faces: Face[]; ms: number };
      const d = compareFaces(r.faces, selfieFaces);
      if (d.failures.length > 0) assert.unreachable(`${d.failures.length} differences:\n  ${d.failures.slice(0, 8).join('\n  ')}`);
      console.log(`  [chromium ${mode} selfie 2048x1150] ${r.faces.length} faces as on the CPU; max ${d.maxPx.toExponential(2)} px, score ${d.maxScore.toExponential(2)}; forward ${r.ms.toFixed(0)} ms (SwiftShader)`);
    });
  }

  if (mode !== 'webgl') {
    browserTest(mode, `kernels of an input size are destroyed when the next size comes (${EVICTION_SIZES.length} sizes), and a size seen again recompiles correctly`, async (p) => {
      const weights = await convertedWeightsUrl('mobile0.25');
      const r = await p.evaluate(([m, wu]) => (globalThis as any).harness.evict(m, wu), [mode, weights]) as {
        compiled: number[]; held: number[]; device: number[]; evicted: number; diffs: { name: string; maxAbs: number; excess: number; at: string }[];
      };
      r.held.forEach((n, i) => assert.ok(n <= r.held[0]! + UPLOADS_PER_SIZE * i, `kernels held after each size: ${r.held}`));
      r.device.forEach((n, i) => assert.ok(n <= r.device[0]! + UPLOADS_PER_SIZE * i, `live device objects after each size: ${r.device}`));
      assert.ok(r.evicted >= r.compiled.slice(0, -1).reduce((a, b) => a + b, 0) - UPLOADS_PER_SIZE * (r.compiled.length - 1), `evicted ${r.evicted}; compiled ${r.compiled}`);
      for (const d of r.diffs) if (d.excess > 0) assert.unreachable(`${d.name} after eviction: ${d.at}, max abs ${d.maxAbs}`);
      console.log(`  [chromium ${mode}] sizes ${EVICTION_SIZES.map(([h, w]) => `${h}x${w}`).join(', ')}: compiled ${r.compiled.join(', ')}, held ${r.held.join(', ')}, ` +
        `device objects ${r.device.join(', ')}, evicted ${r.evicted}; first size again: max abs ${Math.max(...r.diffs.map((d) => d.maxAbs)).toExponential(2)}`);
    });

    browserTest(mode, `${LEAK_RUNS} forward passes do not grow device objects; dispose() frees them all`, async (p) => {
      const weights = await convertedWeightsUrl('mobile0.25');
      const r = await p.evaluate(([m, wu, n]) => (globalThis as any).harness.leak(m, wu, n, 64, 64), [mode, weights, LEAK_RUNS]) as {
        before: number; live: number[]; device: number[]; afterDispose: number;
      };
      assert.is(r.live.length, LEAK_RUNS);
      assert.ok(r.live.every((v) => v === r.live[0]), `backend-held objects vary: ${[...new Set(r.live)].join(', ')}`);
      assert.ok(r.device.slice(1).every((v) => v === r.device[1]), `device objects grow: ${r.device[1]} after pass 2, ${r.device[LEAK_RUNS - 1]} after pass ${LEAK_RUNS}`);
      assert.is(r.afterDispose, r.before, `device objects after dispose(): ${r.afterDispose}, before: ${r.before}`);
      console.log(`  [chromium ${mode}] ${LEAK_RUNS} passes: ${r.device[1]} live device objects throughout, ${r.afterDispose - r.before} after dispose()`);
    });
  }
}

browserTest('webgpu', "'auto' picks the first mode of AUTO_ORDER that runs and says why", async (p) => {
  const r = await p.evaluate(() => (globalThis as any).harness.auto(), null) as { mode: string; why: string };
  assert.is(r.mode, 'webgpu', r.why);
  assert.match(r.why, /adapter/);
  console.log(`  [chromium auto] got ${r.mode}: ${r.why}`);
});

test.run();
