// Tier 1, one list for every backend (ggml's test-backend-ops): the harness's op grid
// (src/harness/cases.ts) against the naive loops on every backend Node has, with the backend's
// tolerance from src/harness/tolerances.ts. The browser modes run the same grid in Chromium
// (test/browser.test.ts). A gpu.js mode that cannot run here is reported; one that is required
// (src/harness/modes.ts requiredModes) fails.
//
// Cost on a 2-core machine, measured (46 s in all): the naive references, computed once on first
// use, about 8 s (inside the cpu-naive and cpu-fast entries); cpu-fast and cpu-simd under a second
// each; gpu.js cpu mode (plain JavaScript, the small grid) 3 to 4 s per variant, webasm about 4 s,
// headlessgl 8 to 10 s (kernel compiles).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../src/backend.js';
import { CpuBackend } from '../src/backends/cpu.js';
import { CpuSimdBackend } from '../src/backends/cpu_simd.js';
import { probeMode } from '../src/backends/gpu_instance.js';
import { GpuJsBackend, type GpuJsVariant } from '../src/backends/gpujs.js';
import type { GpuJsMode } from '../src/backends/gpujs_modes.js';
import { opCases, type OpCase } from '../src/harness/cases.js';
import { NODE_MODES, requiredModes } from '../src/harness/modes.js';
import { GPU_FULL } from './helpers/paths.js';
import { failureReport, runCases } from '../src/harness/run.js';
import { TOLERANCES, toleranceFor } from '../src/harness/tolerances.js';
import type { Tensor } from '../src/tensor.js';

const FULL = opCases({ small: false });
const SMALL = opCases({ small: true });
const required = requiredModes();

test('the grid: every op, every conv kind, with and without batch norm, each activation, 1 and 2048 channels', () => {
  const ops = new Set(FULL.map((c) => c.op));
  assert.equal([...ops].sort(), ['add', 'cat', 'catRows', 'conv', 'headPermute', 'interpolateNearest', 'maxPool2d', 'softmax', 'upsample+add']);
  const convs = FULL.filter((c) => c.model !== null).map((c) => c.name);
  for (const kind of ['dense 3x3/1', 'dense 3x3/2', 'stem 3x3/2', 'stem 7x7/2', 'pointwise 1x1 ', 'pointwise 1x1/2', 'depthwise 3x3/1', 'depthwise 3x3/2', 'head 1x1']) {
    assert.ok(convs.some((n) => n.includes(` ${kind}`)), `a ${kind} case`);
  }
  for (const post of ['+bn slope 0.1', '+bn slope 0 ', '+bn slope null', '+bias slope null']) assert.ok(convs.some((n) => n.includes(post)), post);
  assert.ok(convs.some((n) => n.includes('(2048, ')), '2048 input channels');
  assert.ok(convs.some((n) => n.includes('(1, 2, 3)')), 'one channel');
  assert.ok(convs.some((n) => / \(\d+, 1, 1\) ->/.test(n)), 'a 1x1 image');
  assert.ok(SMALL.length < FULL.length && SMALL.every((c) => FULL.some((f) => f.name === c.name)), 'small is a subset');
  assert.is(new Set(FULL.map((c) => c.name)).size, FULL.length, 'names are unique (each names its seed)');
});

test('tolerances: declared once per backend, with a reason, never looser than 1e-4', () => {
  for (const [key, t] of Object.entries(TOLERANCES)) {
    assert.ok(t.abs <= 1e-4 && t.rel <= 1e-4, key);
    assert.ok(t.why.length > 40, `${key} says why`);
  }
  assert.is(toleranceFor('cpu-naive'), TOLERANCES['cpu-naive']);
  assert.is(toleranceFor('gpujs-webasm-reference'), TOLERANCES['gpujs-webasm']);
  assert.is(toleranceFor('cpu-simd-2t'), TOLERANCES['cpu-simd']);
  assert.throws(() => toleranceFor('onnx'), /no tolerance declared for backend onnx/);
});

/** cpu-fast with one output value moved by `delta`: what a failure reads like, and proof the runner can fail. */
class OffByOne extends CpuBackend {
  constructor(private readonly op: string, private readonly delta: number) {
    super('fast');
  }
  override convBnAct(x: Tensor, unit: Parameters<CpuBackend['convBnAct']>[1]): Tensor {
    const y = super.convBnAct(x, unit);
    if (this.op === 'conv') y.data[y.data.length - 2]! += this.delta;
    return y;
  }
  override softmax(x: Tensor): Tensor {
    const y = super.softmax(x);
    if (this.op === 'softmax') y.data[3]! += this.delta;
    return y;
  }
}

test('a wrong value fails its case, naming op, shape, backend, flat and per-dimension index, both values and the error', async () => {
  const cases = FULL.filter((c) => c.name.startsWith('conv depthwise 3x3/2 (33, 9, 8)') || c.name.startsWith('softmax of catRows of headPermute k=2'));
  assert.is(cases.length, 5);
  for (const op of ['conv', 'softmax']) {
    const be = new OffByOne(op, 1e-3);
    const results = await runCases(be, cases, toleranceFor('cpu-fast'));
    const bad = results.filter((r) => !r.ok);
    assert.is(bad.length, op === 'conv' ? 4 : 1, failureReport(results));
    const m = bad[0]!.message!;
    if (op === 'conv') {
      // (33, 5, 4) output: the second-to-last value is index 658, (oc 32, oh 4, ow 2)
      assert.match(m, /^conv depthwise 3x3\/2 \(33, 9, 8\) -> \(33, 5, 4\) \+bn slope 0\.1 seed \d+ on cpu-fast: out of tolerance \(abs 0\.00001, rel 0\.00001\) at index 658 \(oc 32, oh 4, ow 2\): got -?[\d.e-]+, expected -?[\d.e-]+, error 0\.00(099|100)\d*/);
    } else {
      assert.match(m, /^softmax of catRows of headPermute k=2 \(4, 5, 7\) \+ \(4, 3, 4\) \+ \(4, 2, 2\) seed \d+ on cpu-fast: out of tolerance .* at index 3 \(1, 1\): got [\d.e-]+, expected [\d.e-]+, error 0\.00(099|100)\d*/);
    }
  }
  // 1e-6 is inside cpu-fast's tolerance: no failure
  const results = await runCases(new OffByOne('conv', 1e-6), cases, toleranceFor('cpu-fast'));
  assert.ok(results.every((r) => r.ok), failureReport(results));
});

interface Entry {
  name: string;
  /** the gpu.js mode, for availability and the required list */
  mode?: GpuJsMode;
  cases: OpCase[];
  create(): Promise<Backend<unknown>>;
}

const ENTRIES: Entry[] = [
  // the reference itself: proves the runner's plumbing (one prepare, handles, reads) exact; the small grid suffices
  { name: 'cpu-naive', cases: SMALL, create: async () => new CpuBackend('naive') },
  { name: 'cpu-fast', cases: FULL, create: async () => new CpuBackend('fast') },
  { name: 'cpu-simd 1 thread', cases: FULL, create: async () => new CpuSimdBackend({ threads: 1 }) },
  { name: 'cpu-simd 2 threads', cases: FULL, create: async () => new CpuSimdBackend({ threads: 2, parallelMinMacs: 0 }) },
  { name: 'cpu-simd 2 threads, no Winograd', cases: FULL, create: async () => new CpuSimdBackend({ threads: 2, winograd: false, parallelMinMacs: 0 }) },
  // Both kernel variants on webasm, the fused kernels (what the detector runs) on the other modes;
  // every mode's reference variant with RETINAFACE_GPU_FULL=1.
  ...NODE_MODES.flatMap((mode) => ((GPU_FULL || mode === 'webasm' ? ['fused', 'reference'] : ['fused']) as GpuJsVariant[]).map((variant): Entry => ({
    name: `gpujs ${mode} ${variant}`, mode,
    // gpu.js cpu mode runs kernels as plain JavaScript: the small grid keeps it to seconds.
    cases: mode === 'cpu' ? SMALL : FULL,
    create: () => GpuJsBackend.create(mode, variant),
  }))),
];

for (const e of ENTRIES) {
  test(`${e.name}: every op case equals the naive loops within the backend's tolerance`, async () => {
    if (e.mode !== undefined) {
      const avail = await probeMode(e.mode);
      if (!avail.ok) {
        if (required.has(e.mode)) assert.unreachable(`gpu.js mode ${e.mode} is required here but not available: ${avail.reason}`);
        console.log(`  [${e.name}] NOT RUN on this machine: ${avail.reason}`);
        return;
      }
    }
    const be = await e.create();
    const tol = toleranceFor(be.name);
    const t0 = performance.now();
    try {
      const results = await runCases(be, e.cases, tol);
      assert.is(results.length, e.cases.length);
      if (results.some((r) => !r.ok)) assert.unreachable(failureReport(results));
      if (be.name === 'cpu-naive') assert.ok(results.every((r) => r.maxAbsError === 0), 'cpu-naive is the reference: exact');
      const worst = Math.max(...results.map((r) => r.maxAbsError));
      console.log(`  [${e.name}] ${results.length} cases, max abs error ${worst.toExponential(2)}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } finally {
      be.dispose();
    }
    if (be instanceof GpuJsBackend) {
      await be.whenDisposed;
      assert.is(be.stats.live, 0, 'dispose() deleted every texture/buffer the grid and the weights used');
    }
  });
}

test.run();
