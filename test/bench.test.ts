// The benchmark harness's pieces that can be wrong, without timing anything: MAC counts against
// hand counts, the validation step rejecting wrong kernels, the report generator, the options,
// the generated SIMD probe module, and the Chromium proxy carrying a forward pass faithfully.
// (With test/kernels_page.test.ts, the only test files that import bench/: layers.test.ts checks it.)
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../src/backend.js';
import { CpuBackend } from '../src/backends/cpu.js';
import type { ConvBnAct } from '../src/model/modules.js';
import type { Tensor } from '../src/tensor.js';
import { BATCH_MIN_MS, BUDGETS, type Budget } from '../bench/config.js';
import { byKindRoundRobin, convShapeCase, runKernelSuite } from '../bench/kernels.js';
import { headlineFirst, overCap, planRounds, runFailure } from '../bench/e2e.js';
import { RESOLUTIONS } from '../bench/config.js';
import { simdProbeModule, SIMD_FLOPS_PER_ITER } from '../bench/probe.js';
import { againRatio, warmupNote, cliSection, headline, ourSpeedup, pairedRatio, threadForThread, ratios, renderMarkdown, kernelChart, e2eChart, techniquesSection } from '../bench/report.js';
import { parseStages } from '../bench/rss.js';
import { selfTimes } from '../bench/self_time.js';
import type { E2EResult } from '../bench/results.js';
import { parseRun, serializeRun, type RunResult } from '../bench/results.js';
import { parseArgs } from '../bench/run.js';
import { parseOptions } from '../bench/ab.js';
import { moduleOfNode, nodeTimesByRun, rowOf } from '../bench/peer-profile.js';
import { cpuOfStat, cpuTicksOfStat, describeTwoThreads, groupByPlacement } from '../bench/placement.js';
import { parseSchedstat } from '../bench/background.js';
import { convCalls, distinctConvShapes, networkMacs, traceNetwork } from '../bench/shapes.js';
import { sampleBatched, summarize } from '../bench/stats.js';
import { spreadChannels } from '../src/harness/conv_reference.js';
import { toleranceFor } from '../src/harness/tolerances.js';
import { BrowserProxyBackend } from '../bench/browser_proxy.js';
import { openBackends, Unavailable } from '../bench/backends.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { requiredModes } from '../src/harness/modes.js';
import { networkTolerance } from './helpers/gpu_modes.js';
import { assertClose } from './helpers/compare.js';

const r640 = { width: 640, height: 640 };

test('cpu profile: self time per function, the kernels named by their index (hand-computed)', () => {
  const profile = {
    nodes: [
      { id: 1, callFrame: { functionName: 'wasm-function[1]', url: 'wasm://wasm/abc' } },
      { id: 2, callFrame: { functionName: 'run', url: 'file:///x/dist/src/backends/simd_pool.js' } },
      { id: 3, callFrame: { functionName: 'wasm-function[0]', url: 'wasm://wasm/abc' } },
      { id: 4, callFrame: { functionName: '(garbage collector)', url: '' } },
    ],
    samples: [1, 2, 1, 3, 1, 4],
    timeDeltas: [100, 200, 300, 400, 500, 500],
  };
  const rows = selfTimes(profile, ['gemm', 'packB']);
  // packB: 100 + 300 + 500 us of 2000; gemm 400; run 200; the collector 500
  assert.equal(rows.map((r) => [r.name, r.ms, r.share]), [
    ['packB (wasm)', 0.9, 0.45], ['(garbage collector)', 0.5, 0.25], ['gemm (wasm)', 0.4, 0.2], ['run (backends/simd_pool.js)', 0.2, 0.1],
  ]);
  // from 700 us on: the samples at 1000, 1500 and 2000 us (gemm 400, packB 500, the collector 500)
  assert.equal(selfTimes(profile, ['gemm', 'packB'], 700).map((r) => [r.name, r.ms]), [['packB (wasm)', 0.5], ['(garbage collector)', 0.5], ['gemm (wasm)', 0.4]]);
  assert.throws(() => selfTimes({ ...profile, samples: [5] }, []), /sample 0 names node 5/);
});

test('MACs: single layers at 640x640 match hand counts', () => {
  const byId = new Map(distinctConvShapes(r640).map((s) => [s.id, s]));
  // C_out x H_out x W_out x (C_in / groups) x kH x kW
  assert.is(byId.get('stem 3x3/2 3->8 @1/1')!.macs, 8 * 320 * 320 * 3 * 9);
  assert.is(byId.get('depthwise 3x3/1 8->8 @1/2')!.macs, 8 * 320 * 320 * 1 * 9);
  assert.is(byId.get('depthwise 3x3/2 64->64 @1/8')!.macs, 64 * 40 * 40 * 9);
  assert.is(byId.get('head 1x1 64->4 @1/8')!.macs, 4 * 80 * 80 * 64);
  assert.is(byId.get('stem 7x7/2 3->64 @1/1')!.macs, 64 * 320 * 320 * 3 * 49);
  assert.is(byId.get('pointwise 1x1/2 1024->2048 @1/16')!.macs, 2048 * 20 * 20 * 1024);
  assert.is(byId.get('dense 3x3/2 512->512 @1/16')!.macs, 512 * 20 * 20 * 512 * 9);
});

test('MACs: mobile0.25 SSH at stride 8 and the whole heads at 640x640, by hand', () => {
  const calls = convCalls(traceNetwork('mobile0.25', r640));
  const sum = (prefix: string) => calls.filter((c) => c.path.startsWith(prefix)).reduce((s, c) => s + c.macs, 0);
  // conv3X3 64->32, conv5X5_1 64->16, then three 16->16, all 3x3 on 80x80.
  assert.is(sum('ssh1.'), 80 * 80 * 9 * (32 * 64 + 16 * 64 + 3 * 16 * 16));
  // 2 + 4 + 10 classes x 2 anchors from 64 channels, over 80^2 + 40^2 + 20^2 cells.
  const heads = sum('ClassHead.') + sum('BboxHead.') + sum('LandmarkHead.');
  assert.is(heads, 64 * 2 * (2 + 4 + 10) * (80 * 80 + 40 * 40 + 20 * 20));
  assert.is(networkMacs('mobile0.25', r640), calls.reduce((s, c) => s + c.macs, 0));
});

test('shapes: 41 distinct mobile0.25 convolutions; levels are powers of two at odd sizes', () => {
  assert.is(distinctConvShapes(r640, ['mobile0.25']).length, 41);
  const kinds = new Set(distinctConvShapes(r640).map((s) => s.kind));
  for (const k of ['stem 3x3/2', 'stem 7x7/2', 'depthwise 3x3/1', 'depthwise 3x3/2', 'pointwise 1x1', 'pointwise 1x1/2', 'dense 3x3/1', 'dense 3x3/2', 'head 1x1']) {
    assert.ok(kinds.has(k as never), `missing kind ${k}`);
  }
  for (const res of [{ width: 1920, height: 1080 }, { width: 4096, height: 2300 }, { width: 1024, height: 624 }]) {
    const ids = distinctConvShapes(res).map((s) => s.id);
    assert.equal(ids, distinctConvShapes(r640).map((s) => s.id), `rows differ at ${res.width}x${res.height}`);
  }
  const pw = distinctConvShapes(r640).filter((s) => s.kind.startsWith('pointwise'));
  assert.is(Math.min(...pw.map((s) => s.cIn)), 8);
  assert.is(Math.max(...pw.map((s) => s.cIn)), 2048);
});

test('kernels: round-robin order visits every conv kind first and keeps every shape once', () => {
  const shapes = distinctConvShapes(r640);
  const order = byKindRoundRobin(shapes);
  assert.equal([...order].map((s) => s.id).sort(), shapes.map((s) => s.id).sort());
  const kinds = new Set(shapes.map((s) => s.kind));
  assert.equal(new Set(order.slice(0, kinds.size).map((s) => s.kind)), kinds);
});

test('e2e: the headline resolutions are timed first, the others keep the grid order', () => {
  assert.equal(headlineFirst(RESOLUTIONS).map((r) => `${r.width}x${r.height}`),
    ['640x640', '2048x1150', '320x320', '1024x624', '1920x1080', '4096x2300']);
});

test('harness: spreadChannels keeps the first and last channel', () => {
  assert.equal(spreadChannels(64, 4), [0, 21, 42, 63]);
  assert.equal(spreadChannels(64, 0.3), [0, 63]);
  assert.equal(spreadChannels(1, 5), [0]);
  assert.equal(spreadChannels(3, 10), [0, 1, 2]);
});

/** cpu-fast with one deliberate bug: the last output channel's bottom-right value is off by 0.01. */
class WrongCorner extends CpuBackend {
  override convBnAct(x: Tensor, layer: ConvBnAct): Tensor {
    const y = super.convBnAct(x, layer);
    y.data[y.data.length - 1]! += 0.01;
    return y;
  }
}

const shapeOf = (id: string) => distinctConvShapes({ width: 40, height: 32 }).find((s) => s.id === id)!;

test('harness: a conv case\'s channel-subset check accepts the naive result and rejects a one-value error in the last channel', async () => {
  for (const id of ['dense 3x3/1 64->32 @1/8', 'depthwise 3x3/2 32->32 @1/4', 'head 1x1 64->20 @1/8']) {
    const shape = shapeOf(id);
    // A budget of one MAC: the check still covers the first and the last channel.
    const c = convShapeCase(shape, 5, 1);
    for (const [be, ok] of [[new CpuBackend('naive'), true], [new CpuBackend('fast'), true], [new WrongCorner('fast'), false]] as const) {
      await be.prepare(c.model!);
      const y = c.run(be, [...c.inputs]);
      const check = c.check(id, y, toleranceFor(be.name));
      assert.is(check.ok, ok, `${id} on ${be.name}${be instanceof WrongCorner ? ' (wrong)' : ''}: ${check.message ?? check.compared}`);
      assert.is(check.compared, `channels 0, ${shape.cOut - 1} (2) of ${shape.cOut}`);
      if (!ok) {
        const [, h, w] = y.shape as [number, number, number];
        assert.ok(check.message!.includes(`index ${shape.cOut * h * w - 1} (oc ${shape.cOut - 1}, oh ${h - 1}, ow ${w - 1})`), check.message);
        assert.ok(check.message!.includes('expected'), check.message);
      }
    }
  }
});

/** An elementwise bug in softmax: rows not normalised. */
class WrongSoftmax extends CpuBackend {
  override softmax(x: Tensor): Tensor {
    const y = super.softmax(x);
    y.data[0]! *= 1.5;
    return y;
  }
}

test('kernel suite: a wrong backend is reported as failed validation and never timed', async () => {
  const budget: Budget = { ...BUDGETS.quick, resolutions: [{ width: 40, height: 32 }], minSamples: 1, maxSamples: 1, caseSeconds: 0 };
  const opened = [
    { entry: { name: 'good', description: '', threads: 1, tolerance: 'cpu-fast' as const, create: async () => new CpuBackend('fast') as Backend<unknown> }, backend: new CpuBackend('fast') as Backend<unknown> },
    { entry: { name: 'wrong-conv', description: '', threads: 1, tolerance: 'cpu-fast' as const, create: async () => new WrongCorner('fast') as Backend<unknown> }, backend: new WrongCorner('fast') as Backend<unknown> },
    { entry: { name: 'wrong-softmax', description: '', threads: 1, tolerance: 'cpu-fast' as const, create: async () => new WrongSoftmax('fast') as Backend<unknown> }, backend: new WrongSoftmax('fast') as Backend<unknown> },
  ];
  const res = await runKernelSuite(opened, { budget, only: (id) => /^(head 1x1 64->8 @1\/16|head permute)/.test(id), deadline: Infinity, log: () => {}, engine: 'plain' });
  const get = (backend: string, id: string) => res.find((r) => r.backend === backend && r.id === id)!;
  assert.ok(get('good', 'head 1x1 64->8 @1/16').timing !== undefined);
  assert.ok(get('good', 'head permute + softmax (A, 2) @1/8').check!.ok);
  const bad = get('wrong-conv', 'head 1x1 64->8 @1/16');
  assert.is(bad.timing, undefined);
  assert.ok(bad.skipped!.startsWith('failed validation'), bad.skipped);
  assert.ok(get('wrong-conv', 'head permute + softmax (A, 2) @1/8').check!.ok); // its softmax is right
  const badSoftmax = get('wrong-softmax', 'head permute + softmax (A, 2) @1/8');
  assert.is(badSoftmax.timing, undefined);
  assert.ok(badSoftmax.check!.message!.includes('index 0 (0, 0)'), badSoftmax.check!.message);
});

function fakeRun(): RunResult {
  const t = (ms: number) => summarize(ms * 3, [ms, ms, ms]);
  return {
    schema: 1, mode: 'full', started: '2026-01-01T00:00:00.000Z', durationS: 100, command: 'node dist/bench/run.js --full',
    machine: { cpu: 'Test CPU', cores: 2, memoryGB: 8, os: 'Linux', hostHash: 'abcd1234' },
    versions: { node: '20.0.0' },
    probe: { scalarGflops1t: 2, simdGflops1t: 8, scalarGflopsAll: 4, simdGflopsAll: 16, threads: 2 },
    backends: [{ name: 'cpu-fast', description: 'GEMM', threads: 1 }, { name: 'gpujs-headlessgl', description: 'gl', threads: 1, skipped: 'headless-gl is not built' }],
    peers: [{ name: 'onnxruntime-node-1t', description: 'ORT', threads: 1 }],
    kernels: [
      { id: 'head 1x1 64->4 @1/8', op: 'conv', resolution: '320x320', backend: 'cpu-fast', inShape: [64, 40, 40], macs: 409600, timing: t(0.5), gflops: 1.6384 },
      { id: 'head 1x1 64->4 @1/8', op: 'conv', resolution: '640x640', backend: 'cpu-fast', inShape: [64, 80, 80], macs: 1638400, skipped: 'failed validation: x: out of tolerance', check: { ok: false, compared: 'all', maxAbsError: 1, message: 'x: out of tolerance at (oc 3, oh 0, ow 0)' } },
    ],
    e2e: [
      { arch: 'mobile0.25', resolution: '320x320', megapixels: 0.1024, contestant: 'cpu-fast', kind: 'ours', threads: 1, stages: { forward: t(10), total: t(10) }, macs: 2.5e8, peakRssMB: 100 },
      { arch: 'mobile0.25', resolution: '320x320', megapixels: 0.1024, contestant: 'onnxruntime-node-1t', kind: 'peer', threads: 1, stages: { forward: t(20), total: t(20) }, macs: 2.5e8, peakRssMB: 90 },
      { arch: 'mobile0.25', resolution: '640x640', megapixels: 0.4096, contestant: 'cpu-fast', kind: 'ours', threads: 1, stages: {}, macs: 1e9, skipped: 'predicted 50 s per forward' },
    ],
    notes: ['mobile0.25: checked against PyTorch'],
  };
}

test('kernel suite: op cases alone run on a backend that needs prepare() first (cpu-simd); a page-mode run renders without a headline', async () => {
  const budget: Budget = { ...BUDGETS.quick, resolutions: [{ width: 40, height: 32 }], minSamples: 1, maxSamples: 1, caseSeconds: 0 };
  const simd = await openBackends((n) => n === 'cpu-simd-1t');
  const res = await runKernelSuite(simd, { budget, only: (id) => /^(cat\+relu|head permute)/.test(id), deadline: Infinity, log: () => {}, engine: 'plain' });
  simd.forEach((o) => o.backend?.dispose());
  const cells = res.filter((r) => r.backend === 'cpu-simd-1t');
  assert.ok(cells.length >= 2, `${cells.length} cells`);
  for (const r of cells) assert.ok(r.check?.ok === true && r.timing !== undefined, `${r.id}: ${r.skipped}`);
  const page: RunResult = { ...fakeRun(), mode: 'page', probe: undefined, peers: [], e2e: fakeRun().e2e.filter((r) => r.kind === 'ours'),
    machine: { cpu: 'not reported by browsers', cores: 8, os: 'Linux', browser: 'Chrome', webgl: 'ANGLE (NVIDIA)', webgpu: 'nvidia, ampere' } };
  const md = renderMarkdown(parseRun(serializeRun(page)), 'page.json');
  assert.ok(md.includes('a run of the kernel page') && md.includes('| WebGL renderer | ANGLE (NVIDIA) |') && md.includes('| WebGPU adapter | nvidia, ampere |'), md.slice(0, 800));
  assert.ok(md.includes('| CPU | not reported by browsers, 8 cores |'), 'no memory figure when the browser gives none');
  assert.not.ok(md.includes('## Headline'), 'no peers, no headline');
  assert.not.ok(md.includes('## Measuring on your own GPU'), 'the kernel page section is for the Node runs\' report');
  assert.ok(renderMarkdown(fakeRun(), 'run.json').includes('## Measuring on your own GPU: the kernel page'));
});

test('stats: sampleBatched averages calls until a sample lasts BATCH_MIN_MS', async () => {
  let calls = 0;
  const samples = await sampleBatched(() => { calls++; }, { minSamples: 3, maxSamples: 5, budgetMs: 0 });
  assert.is(samples.length, 3);
  assert.ok(calls > 3, `${calls} calls: many per sample`);
  for (const s of samples) assert.ok(s >= 0 && s < BATCH_MIN_MS, String(s));
});

test('report: ratios are ours / peer on the forward medians where a run kept no rounds', () => {
  assert.equal(ratios(fakeRun().e2e), [{ arch: 'mobile0.25', resolution: '320x320', ours: 'cpu-fast', peer: 'onnxruntime-node-1t', ratio: 0.5 }]);
});

test('report: with the samples by round, a ratio is the median of the per-round ratios (pairedRatio), in every table', () => {
  const r = (contestant: string, kind: 'ours' | 'peer', threads: number, rounds: number[]): E2EResult => ({
    arch: 'mobile0.25', resolution: '640x640', megapixels: 0.4096, contestant, kind, threads, macs: 1e9,
    stages: { forward: summarize(100, rounds) }, forwardRounds: rounds,
  });
  // Round 2 is a slow spell for both sides of each pair.
  const one = r('cpu-simd-1t', 'ours', 1, [30, 60, 32]), peer1 = r('onnxruntime-node-1t', 'peer', 1, [20, 40, 20]);
  const two = r('cpu-simd-2t', 'ours', 2, [16, 40, 20]), peer2 = r('onnxruntime-node-2t', 'peer', 2, [10, 20, 16]);
  // ours 1t / 1t: 1.5, 1.5, 1.6 -> 1.5 (medians: 32 / 20 = 1.6); 2t: 1.6, 2.0, 1.25 -> 1.6 (medians 20 / 16 = 1.25);
  // our speed-up 30/16, 60/40, 32/20 = 1.875, 1.5, 1.6 -> 1.6 (medians: 32 / 20 = 1.6); the peer's 2, 2, 1.25 -> 2 (20 / 16 = 1.25).
  assert.is(pairedRatio(one, peer1), 1.5);
  assert.is(pairedRatio(two, peer2), 1.6);
  const e2e = [one, two, peer1, peer2];
  const tt = threadForThread(e2e).filter((x) => x.resolution === '640x640');
  assert.equal(tt.map((x) => [x.threads, x.ratio['onnxruntime-node-' + x.threads + 't']]), [[1, 1.5], [2, 1.6]]);
  assert.is(ourSpeedup(e2e, 'mobile0.25', '640x640'), 1.6);
  const md = renderMarkdown({ ...fakeRun(), e2e }, 'x.json');
  assert.ok(md.includes('| mobile0.25 | 640x640 | 2 | cpu-simd-2t | 20.0 | — | 1.60 | 1.60x | — | 2.00x |'), md.split('\n').filter((l) => l.includes('| 2 | cpu-simd-2t')).join('\n'));
  // Unequal rounds (never in one run): the medians' ratio.
  assert.is(pairedRatio(one, r('onnxruntime-node-1t', 'peer', 1, [16, 16])), 2);
});

test('report: the back-to-back forwards (forwardAgainRounds) give their own per-round ratios, speed-ups and table', () => {
  const r = (contestant: string, kind: 'ours' | 'peer', threads: number, rounds: number[], again?: number[]): E2EResult => ({
    arch: 'mobile0.25', resolution: '640x640', megapixels: 0.4096, contestant, kind, threads, macs: 1e9,
    stages: { forward: summarize(100, rounds) }, forwardRounds: rounds, ...(again !== undefined ? { forwardAgainRounds: again } : {}),
  });
  const one = r('cpu-simd-1t', 'ours', 1, [30, 60, 32], [30, 36, 33]), two = r('cpu-simd-2t', 'ours', 2, [16, 40, 20], [18, 20, 17]);
  const peer1 = r('onnxruntime-node-1t', 'peer', 1, [20, 40, 20], [24, 24, 22]), peer2 = r('onnxruntime-node-2t', 'peer', 2, [10, 20, 16], [12, 16, 13]);
  // back to back, ours 2t / peer 2t: 18/12, 20/16, 17/13 = 1.5, 1.25, 1.31 -> 1.31; our speed-up 30/18, 36/20, 33/17 = 1.67, 1.8, 1.94 -> 1.8;
  // the peer's 24/12, 24/16, 22/13 = 2, 1.5, 1.69 -> 1.69
  assert.is(againRatio(two, peer2)!.toFixed(4), (17 / 13).toFixed(4));
  assert.is(againRatio(two, r('onnxruntime-node-2t', 'peer', 2, [10, 20, 16])), undefined, 'no back-to-back rounds: no ratio');
  const e2e = [one, two, peer1, peer2];
  assert.is(ourSpeedup(e2e, 'mobile0.25', '640x640', againRatio), 1.8);
  assert.is(ourSpeedup(e2e, 'mobile0.25', '640x640'), 1.6, 'the timed forwards: as before');
  const md = renderMarkdown({ ...fakeRun(), e2e }, 'x.json');
  const line = (start: string) => md.split('\n').filter((l) => l.startsWith(start)).join('\n');
  assert.ok(md.includes('| mobile0.25 | 640x640 | cpu-simd-2t | 20.0 | 1.60x | 1.80x |'), line('| mobile0.25 | 640x640 | cpu-simd-2t'));
  assert.ok(md.includes('Back to back: in the same rounds'));
  // the back-to-back table: forward ms the median of the again rounds (18), ratios and speed-ups from them
  assert.ok(md.includes('| mobile0.25 | 640x640 | 2 | cpu-simd-2t | 18.0 | — | 1.31 | 1.80x | — | 1.69x |'), line('| mobile0.25 | 640x640 | 2 | cpu-simd-2t'));
  // 1 thread: 30/24, 36/24, 33/22 = 1.25, 1.5, 1.5 -> 1.50
  assert.ok(md.includes('| mobile0.25 | 640x640 | 1 | cpu-simd-1t | 33.0 | — | 1.50 |'), line('| mobile0.25 | 640x640 | 1 | cpu-simd-1t'));
  // a run without them has no such table
  assert.not.ok(renderMarkdown({ ...fakeRun(), e2e: [r('cpu-simd-1t', 'ours', 1, [30]), r('onnxruntime-node-1t', 'peer', 1, [20])] }, 'x.json').includes('Back to back: in the same rounds'));
});

test('report: the warm-up note gives each arch and resolution\'s range of untimed passes (warmupPasses), none where none ran, nothing for runs without them', () => {
  const r = (contestant: string, resolution: string, warmupPasses?: number, skipped?: string): E2EResult => ({
    arch: 'mobile0.25', resolution, megapixels: 0.4096, contestant, kind: 'ours', threads: 1, macs: 1e9,
    stages: { forward: summarize(100, [30]) }, ...(warmupPasses !== undefined ? { warmupPasses } : {}), ...(skipped !== undefined ? { skipped } : {}),
  });
  const note = warmupNote([r('a', '640x640', 68), r('b', '640x640', 100), r('c', '640x640', 3, 'run failed: x'), r('a', '2048x1150', 12), r('b', '2048x1150', 12), r('a', '4096x2300', 0)]);
  assert.match(note, /:\s+mobile0\.25 640x640 68-100,\s+mobile0\.25 2048x1150 12,\s+mobile0\.25 4096x2300 none\./, 'a skipped contestant does not count');
  assert.is(warmupNote([r('a', '640x640'), r('b', '640x640')]), '');
  // in the published page, under the headline table
  const withPeer = (contestant: string, kind: 'ours' | 'peer', threads: number): E2EResult => ({ ...r(contestant, '640x640', 12), kind, threads, forwardRounds: [30] });
  const md = renderMarkdown({ ...fakeRun(), e2e: [withPeer('cpu-simd-1t', 'ours', 1), withPeer('cpu-simd-2t', 'ours', 2), withPeer('onnxruntime-node-1t', 'peer', 1), withPeer('onnxruntime-node-2t', 'peer', 2)] }, 'x.json');
  assert.match(md, /\*\*Warm-up\*\*: after its first call[^]*:\s+mobile0\.25 640x640 12\./);
});

test('e2e: planRounds keeps the timed rounds four times over, then gives each contestant warm-up time from the rest (capped); runFailure names the reply\'s error', () => {
  const budget = { ...BUDGETS.full, rounds: 11, warmup: { passes: 100, seconds: 10 } };
  // plenty of time: 11 rounds of 1 s take 44 s four times over; 200 - 44 = 156 s over 6 contestants, capped at 10 s
  assert.equal(planRounds(200_000, 1000, budget, 6), { rounds: 11, warmupMsEach: 10_000 });
  // 60 s: 11 rounds (44 s), 16 s over 4 contestants
  assert.equal(planRounds(60_000, 1000, budget, 4), { rounds: 11, warmupMsEach: 4000 });
  // a long round (resnet50's 18 s) in 200 s: 2 rounds (4 x 2 x 18 = 144 s), 56 s left over 6: 9.33 s each
  assert.equal(planRounds(200_000, 18_000, budget, 6), { rounds: 2, warmupMsEach: 56_000 / 6 });
  // 100 s: 1 round (72 s), 28 s over 6; 50 s: still 1 round (the first steady sample), nothing left
  assert.equal(planRounds(100_000, 18_000, budget, 6), { rounds: 1, warmupMsEach: 28_000 / 6 });
  assert.equal(planRounds(50_000, 18_000, budget, 6), { rounds: 1, warmupMsEach: 0 });
  assert.equal(planRounds(-5, 1000, budget, 6), { rounds: 1, warmupMsEach: 0 }, 'past the deadline');
  assert.equal(planRounds(200_000, 1000, budget, 0), { rounds: 11, warmupMsEach: 0 }, 'no contestant left');
  assert.is(runFailure({ type: 'run', ms: { forward: 1 } }), undefined);
  assert.is(runFailure({ type: 'run', ms: {}, error: 'out of memory' }), 'run failed: out of memory');
  assert.is(runFailure({ type: 'stop', peakRssMB: 1 } as never), 'run failed: no reply');
});

test('background: parseSchedstat reads a thread\'s CPU and runqueue-wait ns as ms; this thread\'s own line parses', () => {
  assert.equal(parseSchedstat('123456789 2000000 17\n'), { runMs: 123.456789, waitMs: 2 });
  assert.throws(() => parseSchedstat('garbage'), /not a schedstat line/);
  if (process.platform === 'linux') {
    const mine = parseSchedstat(readFileSync('/proc/thread-self/schedstat', 'utf8'));
    assert.ok(mine.runMs > 0 && mine.waitMs >= 0, JSON.stringify(mine));
  }
});

test('report: headline picks the fastest of each family and divides by each ONNX peer', () => {
  const t = (ms: number) => summarize(ms * 3, [ms, ms, ms]);
  const e = (contestant: string, kind: 'ours' | 'peer', ms: number | null): E2EResult => ({
    arch: 'mobile0.25', resolution: '640x640', megapixels: 0.4096, contestant, kind, threads: 1, macs: 1e9,
    stages: ms === null ? {} : { forward: t(ms) }, ...(ms === null ? { skipped: 'predicted 50 s per forward' } : {}),
  });
  const rows = headline([
    e('cpu-fast', 'ours', 200), e('cpu-simd-2t', 'ours', 50), e('cpu-naive', 'ours', null),
    e('gpujs-webasm', 'ours', 400), e('chromium-webgl2', 'ours', 300),
    e('onnxruntime-web-2t', 'peer', 100), e('onnxruntime-node-1t', 'peer', 25),
  ]);
  const cpu = rows.find((r) => r.resolution === '640x640' && r.family === 'cpu')!;
  assert.is(cpu.ours, 'cpu-simd-2t');
  assert.equal(cpu.ratio, { 'onnxruntime-web-2t': 0.5, 'onnxruntime-node-1t': 2 });
  const gpu = rows.find((r) => r.resolution === '640x640' && r.family === 'gpujs')!;
  assert.is(gpu.ours, 'chromium-webgl2');
  assert.equal(gpu.ratio, { 'onnxruntime-web-2t': 3, 'onnxruntime-node-1t': 12 });
  // 2048x1150 was not run: both families listed, neither timed.
  assert.equal(rows.filter((r) => r.resolution === '2048x1150').map((r) => [r.family, r.ours]), [['cpu', undefined], ['gpujs', undefined]]);
  const md = renderMarkdown({ ...fakeRun(), e2e: [e('cpu-simd-2t', 'ours', 50), e('onnxruntime-web-2t', 'peer', 100)] }, 'x.json');
  // no 1-thread run of ours: no two-thread speed-up
  assert.ok(md.includes('| mobile0.25 | 640x640 | cpu-simd-2t | 50.0 | — | — | — | 0.50 | — | — |'), md.split('\n').find((l) => l.startsWith('| mobile0.25 | 640x640 | cpu-simd')));
  assert.ok(md.includes('| mobile0.25 | 2048x1150 | CPU: not timed |'));
  // Thread for thread: 1-thread ours against 1-thread peers only.
  const tt = threadForThread([{ ...e('cpu-simd-1t', 'ours', 80), threads: 1 }, { ...e('cpu-simd-2t', 'ours', 50), threads: 2 },
    { ...e('onnxruntime-web-1t', 'peer', 160), threads: 1 }, { ...e('onnxruntime-web-2t', 'peer', 100), threads: 2 }, { ...e('onnxruntime-node-2t', 'peer', 25), threads: 2 }]);
  assert.equal(tt.filter((r) => r.resolution === '640x640').map((r) => [r.threads, r.ours, r.ratio]),
    [[1, 'cpu-simd-1t', { 'onnxruntime-web-1t': 0.5 }], [2, 'cpu-simd-2t', { 'onnxruntime-web-2t': 0.5, 'onnxruntime-node-2t': 2 }]]);
  // The two-thread speed-up: ours 80 / 50 in the headline and the thread-for-thread table, each peer's own beside it.
  const md3 = renderMarkdown({ ...fakeRun(), e2e: [{ ...e('cpu-simd-1t', 'ours', 80), threads: 1 }, { ...e('cpu-simd-2t', 'ours', 50), threads: 2 },
    { ...e('onnxruntime-node-1t', 'peer', 40), threads: 1 }, { ...e('onnxruntime-node-2t', 'peer', 25), threads: 2 }] }, 'x.json');
  assert.ok(md3.includes('| mobile0.25 | 640x640 | cpu-simd-2t | 50.0 | 1.60x | — | — | — | 1.25 | 2.00 |'), md3.split('\n').find((l) => l.startsWith('| mobile0.25 | 640x640 | cpu-simd-2t')));
  assert.ok(md3.includes('| mobile0.25 | 640x640 | 2 | cpu-simd-2t | 50.0 | — | 2.00 | 1.60x | — | 1.60x |'), md3.split('\n').filter((l) => l.includes('| 2 | cpu-simd-2t')).join('\n'));
  // A family not timed names the member predicted fastest and why it was skipped.
  const slow = (contestant: string, s: number): E2EResult => ({ ...e(contestant, 'ours', null), skipped: `predicted ${s} s per forward (from its 160x123 check pass) > cap 40 s` });
  const none = headline([slow('chromium-webgpu', 480), slow('gpujs-headlessgl', 75), slow('gpujs-cpu', 150), e('cpu-simd-2t', 'ours', 50)])
    .find((r) => r.resolution === '640x640' && r.family === 'gpujs')!;
  assert.is(none.note, 'gpujs-headlessgl predicted 75 s per forward (from its 160x123 check pass) > cap 40 s');
  assert.is(none.predictedMs, 75000);
  const withPeer = headline([slow('gpujs-headlessgl', 75), e('onnxruntime-web-2t', 'peer', 100)]).find((r) => r.resolution === '640x640' && r.family === 'gpujs')!;
  assert.equal(withPeer.predictedRatio, { 'onnxruntime-web-2t': 750 });
  assert.equal(withPeer.ratio, {}, 'a prediction is never reported as a measured ratio');
  const md2 = renderMarkdown({ ...fakeRun(), e2e: [slow('gpujs-headlessgl', 75), e('onnxruntime-web-2t', 'peer', 100)] }, 'x.json');
  assert.ok(md2.includes('| ~75000 (predicted) |  |  | — | ~750 (predicted) |'), md2.split('\n').find((l) => l.includes('gpu.js: not timed')));
});

test('e2e: a contestant is capped by its predicted forward, and the reason says where the rate came from', () => {
  const full = BUDGETS.full;
  assert.is(overCap({ msPerMac: 1e-6, from: 'mobile0.25 640x640' }, 5e9, full), undefined, '5 s per forward is under the cap');
  assert.is(overCap({ msPerMac: 1e-6, from: 'its 160x123 check pass' }, 1e11, full),
    `predicted 100 s per forward (from its 160x123 check pass) > cap ${full.e2eMaxCallSeconds} s`);
  assert.is(overCap({ msPerMac: 1e-6, from: 'x' }, 4.5e10, full), `predicted 45 s per forward (from x) > cap ${full.e2eMaxCallSeconds} s`);
});

test('report: markdown has the tables, reasons, the peak and the labelled external reference', () => {
  const md = renderMarkdown(fakeRun(), 'bench/results/published.json');
  assert.ok(md.includes('| 320x320 | cpu-fast | 0.50 |'), 'ratio row');
  assert.ok(md.includes('| head 1x1 64->4 @1/8 | 0.500 ms · 1.64 GF/s (first 1.50) | FAILED CHECK |'), 'kernel row');
  assert.ok(md.includes('x: out of tolerance at (oc 3, oh 0, ow 0)'), 'failed check listed');
  assert.ok(md.includes('**gpujs-headlessgl** (gl): headless-gl is not built'), 'skipped backend with reason');
  assert.ok(md.includes('skipped: predicted 50 s per forward'), 'skipped e2e cell');
  assert.ok(md.includes('58.5 ms / 712 ms at 2048x1150'), 'external figures');
  assert.ok(/not measured here/.test(md), 'external reference labelled');
  assert.ok(md.includes('| wasm SIMD f32x4 multiply-add | 8.00 GFLOP/s | 16.00 GFLOP/s |'), 'machine peak');
  assert.ok(md.includes('| 320x320 | cpu-fast | 1 | — | — | 10.0 ±0 % | — | 10.0 ±0 % | 30.0 | 50.00 | 100 |'), md.split('\n').find((l) => l.startsWith('| 320x320 | cpu-fast | 1')));
  assert.not.match(md, /TODO|placeholder|undefined|NaN/);
});

test('results: the written JSON rounds to 5 digits, slims unrun cells and renders the same report', () => {
  const run = fakeRun();
  run.kernels.push({ id: 'head 1x1 64->4 @1/8', op: 'conv', resolution: '1024x624', backend: 'cpu-fast', inShape: [64, 78, 128], macs: 2555904, skipped: 'deadline reached' });
  run.kernels.push({ id: 'head 1x1 64->4 @1/8', op: 'conv', resolution: '1024x624', backend: 'cpu-simd-1t', inShape: [64, 78, 128], macs: 2555904, skipped: 'deadline reached' });
  const text = serializeRun(run);
  assert.is(text.split('deadline reached').length - 1, 1, 'a skip reason is written once');
  const back = parseRun(text);
  assert.equal(back.kernels.at(-2), { id: 'head 1x1 64->4 @1/8', op: 'conv', resolution: '1024x624', backend: 'cpu-fast', skipped: 'deadline reached' });
  assert.equal(back.kernels.at(-1)!.backend, 'cpu-simd-1t');
  assert.is(back.kernels[0]!.gflops, 1.6384);
  assert.equal(back.kernels[1]!.check, run.kernels[1]!.check, 'a failed check keeps its cell whole');
  assert.is(parseRun(serializeRun({ ...run, durationS: 1234.56789 })).durationS, 1234.6);
  assert.throws(() => parseRun('{"schema": 2}', 'x.json'), /x\.json: not a benchmark run/);
  assert.is(renderMarkdown(back, 'x.json'), renderMarkdown(run, 'x.json'));
});

test('report: SVG charts carry the series and the peak lines', () => {
  const run = fakeRun();
  const k = kernelChart(run);
  assert.ok(k.startsWith('<svg') && k.trimEnd().endsWith('</svg>'));
  assert.ok(k.includes('SIMD peak, 2 threads (16.0)') && k.includes('>cpu-fast<'));
  const e = e2eChart(run, 'mobile0.25');
  assert.ok(e.includes('>onnxruntime-node-1t<') && e.includes('<circle'));
  assert.not.match(e + k, /NaN|undefined/);
});

test('options: a mode is required; --res, --only, --sections parse', () => {
  assert.throws(() => parseArgs([]), /--quick or --full/);
  const a = parseArgs(['--full', '--res', '96x64,320x320', '--only', 'head', '--sections', 'kernels']);
  assert.is(a.mode, 'full');
  assert.equal(a.res, [{ width: 96, height: 64 }, { width: 320, height: 320 }]);
  assert.ok(a.only.test('head 1x1 64->4 @1/8'));
  assert.equal([...a.sections], ['kernels']);
  assert.throws(() => parseArgs(['--quick', '--res', '96by64']), /WIDTHxHEIGHT/);
});

test('ab: --options-before/--options-after take a JSON object of cpu-simd options; anything else is refused by name', () => {
  assert.equal(parseOptions('--options-after', '{"strassen":false,"parallelMinMacs":1000000}'), { strassen: false, parallelMinMacs: 1000000 });
  assert.throws(() => parseOptions('--options-after', '[1]'), /--options-after: expected a JSON object of cpu-simd options, got \[1\]/);
  assert.throws(() => parseOptions('--options-before', '{x'), /--options-before: not JSON/);
  assert.throws(() => parseOptions('--options-before', '{"threads":3}'), /--options-before: set threads with --threads/);
});

test('peer profile: onnxruntime\'s node names go to the PyTorch modules they were exported from, and rows merge what ours runs as one', () => {
  const cases: [string, string][] = [
    ['/body/stage1/stage1.1/stage1.1.2/LeakyRelu_output_0_nchwc', 'body.stage1.1'],
    ['/body/layer1/layer1.0/conv1/Conv', 'body.layer1.0'],
    ['/body/relu/Relu_output_0_nchwc', 'body.relu'],
    ['/body/maxpool/MaxPool', 'body.maxpool'],
    ['/fpn/merge1/merge1.2/LeakyRelu_output_0_nchwc', 'fpn.merge1'],
    ['/fpn/Add_1', 'fpn'],
    ['/ssh1/conv3X3/conv3X3.0/Conv_output_0_nchwc', 'ssh1.conv3X3'],
    ['/ssh2/Concat', 'ssh2'],
    ['/ClassHead.0/conv1x1/Conv_output_0_nchwc', 'ClassHead.0'],
    ['/Concat', 'loc'], ['/Concat_1', 'conf'], ['/Softmax', 'conf'], ['/Concat_2', 'landms'],
    ['ReorderOutput_token_139', 'layout reorders (onnxruntime)'], ['ReorderInput', 'layout reorders (onnxruntime)'],
  ];
  for (const [node, module] of cases) assert.is(moduleOfNode(node), module, node);
  assert.is(rowOf('ssh3.conv5X5_1'), 'ssh3.conv3X3 + conv5X5_1');
  assert.is(rowOf('ssh3.conv3X3'), 'ssh3.conv3X3 + conv5X5_1');
  assert.is(rowOf('ssh1.conv7X7_2'), 'ssh1.conv5X5_2 + conv7X7_2');
  assert.is(rowOf('ssh1.conv7x7_3'), 'ssh1.conv7x7_3');
  assert.is(rowOf('LandmarkHead.2'), 'heads.2 (Class, Bbox, Landmark)');
  assert.is(rowOf('body.stage2.3'), 'body.stage2.3');
});

test('peer profile: node kernel times are split by the model_run they fall in, in ms, other events ignored', () => {
  const ev = (cat: string, name: string, ts: number, dur: number) => ({ cat, name, ts, dur });
  const runs = nodeTimesByRun([
    ev('Session', 'model_run', 1000, 500), ev('Session', 'model_run', 100, 400),
    ev('Node', '/a/Conv_kernel_time', 150, 250), ev('Node', '/a/Conv_fence_before', 150, 10), ev('Node', '/b/Relu_kernel_time', 420, 50),
    ev('Node', '/a/Conv_kernel_time', 1100, 125), ev('Node', '/a/Conv_kernel_time', 1300, 125),
    ev('Node', '/c/Conv_kernel_time', 700, 90), // between the runs: no run's
    ev('Session', 'SequentialExecutor::Execute', 1000, 480),
  ]);
  assert.is(runs.length, 2);
  assert.equal([...runs[0]!], [['/a/Conv', 0.25], ['/b/Relu', 0.05]]);
  assert.equal([...runs[1]!], [['/a/Conv', 0.25]]);
});

test('placement: a thread stat line gives its CPU (field 39) and CPU time (fields 14 + 15), a command name with ") " in it included', () => {
  // A stat line of proc(5)'s format: pid, (comm), then state (field 3) onwards; here utime 5,
  // stime 7 and processor 1, the command name holding ') ' and '(' as a thread may name itself.
  const line = '22288 (odd) name (x) R 22283 22283 20121 0 -1 4194304 100 0 0 0 5 7 0 0 20 0 1 0 4965830 3133440 384 '
    + '18446744073709551615 94804335419392 94804335439273 140720483645040 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94804335455280 '
    + '94804335456896 94805344329728 140720483646169 140720483646189 140720483646189 140720483647467 0\n';
  assert.is(cpuOfStat(line), 1);
  assert.is(cpuTicksOfStat(line), 12);
  assert.throws(() => cpuOfStat('no parenthesis here'), /not a \/proc stat line/);
});

test('placement: two-thread forwards grouped by how many tasks ended with both threads on one CPU', () => {
  const groups = groupByPlacement([
    { ms: 20, tasks: 35, together: 0 }, { ms: 22, tasks: 35, together: 0 }, { ms: 24, tasks: 35, together: 0 },
    { ms: 30, tasks: 35, together: 17 }, { ms: 40, tasks: 35, together: 18 }, { ms: 44, tasks: 35, together: 35 },
  ]);
  assert.equal(groups.map((g) => [g.count, g.medianMs]), [[3, 22], [1, 30], [2, 42]]); // 42: the mean of the middle two (bench/stats.ts median)
  assert.equal(groupByPlacement([]).map((g) => g.medianMs), [null, null, null]);
});

test('placement: the two-thread probe lines count the quick wakes, give the slow ones and the speed-up of the medians', () => {
  const both = [0.05, 0.1, 2.5, 1.5, 3.5].map((wakeMs, i) => ({ wakeMs, callersCpu: i >= 2, callerMs: 10 + i, workerMs: 9, bothMs: 11 + i }));
  // alone: median 10 of [9, 10, 12]; both: median 13 of 11..15: 2 * 10 / 13 = 1.54
  assert.equal(describeTwoThreads([12, 9, 10], both, 0.25), [
    "the worker's wake: 2 of 5 started within 0.25 ms, 3 in 1.50-3.50 ms (median 2.50); 3 of 5 woke on the caller's CPU",
    "one share alone 10.00 ms; two shares at once: the caller's 12.00 ms, the worker's 9.00 ms from its wake, both done 13.00 ms after the notify: a two-thread speed-up of 1.54x (medians)",
  ]);
  assert.is(describeTwoThreads([10], both.slice(0, 1), 0.25)[0], "the worker's wake: 1 of 1 started within 0.25 ms; 0 of 1 woke on the caller's CPU");
});

test('probe: the generated SIMD module validates and computes the chains it claims', () => {
  const bytes = simdProbeModule();
  assert.ok(WebAssembly.validate(bytes));
  const run = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.run as (n: number) => number;
  // 0 iterations: the sum of the 16 initial lanes 1 + i/64, i = 1..16.
  assert.ok(Math.abs(run(0) - (16 + (16 * 17) / 2 / 64)) < 1e-4, String(run(0)));
  // one iteration: each chain c -> c * 0.999 + 0.001.
  assert.ok(Math.abs(run(1) - ((16 + 136 / 64) * 0.999 + 16 * 0.001)) < 1e-4, String(run(1)));
  assert.is(SIMD_FLOPS_PER_ITER, 16 * 4 * 2);
});


test('rss: the CLI --benchmark line parses into stages; the report gives the RSS ratio and each stage share', () => {
  const line = 'selfie.jpg: 2048x1150 -> network 2048x1150, cpu-simd, 2 threads, median of 5 runs after one warm-up: ' +
    'decode 100.0 ms, preprocess 10.0 ms, forward 380.0 ms, postprocess 10.0 ms, total 500.0 ms';
  const stagesMs = parseStages(`loading\n${line}\nselfie.jpg: 1 face`);
  assert.equal(stagesMs, { decode: 100, preprocess: 10, forward: 380, postprocess: 10, total: 500 });
  assert.throws(() => parseStages('selfie.jpg: 1 face'), /no --benchmark line/);
  const md = cliSection({
    image: 'selfie.jpg', arch: 'mobile0.25', threads: 2, backend: 'cpu-simd', cliPeakRssMB: 160, peerPeakRssMB: 200,
    peer: 'onnxruntime-node 2 thread(s), decode + forward', stagesMs, shares: { decode: 0.2, preprocess: 0.02, forward: 0.76, postprocess: 0.02 },
    command: 'node dist/bench/rss.js', started: '2026-01-01T00:00:00.000Z',
  }, 'bench/results/cli.json');
  assert.ok(md.includes('| ratio, CLI / peer | 0.80 |'), md);
  assert.ok(md.includes('| share | 20 % | 2 % | 76 % | 2 % |  |'), md);
  assert.ok(md.includes('| ms | 100 | 10.0 | 380 | 10.0 | 500 |'), md);
});

test('report: the techniques table divides each step by the one above and by the first', () => {
  const md = techniquesSection([{ source: 'bench/results/techniques-mobile0.25.json', result: { arch: 'mobile0.25', resolution: '640x640', results: [
    { step: 'cpu-naive', adds: 'loops', medianMs: 4000, samples: 1, gflops: 0.5 },
    { step: 'cpu-fast', adds: 'GEMM', medianMs: 1000, samples: 5, gflops: 2 },
    { step: 'cpu-simd-1t', adds: 'SIMD', medianMs: 125, samples: 5, gflops: 16 },
  ] } }]);
  assert.ok(md.includes('| cpu-fast | GEMM | 1000 | 2.00 | 4.00 | 4.0 |'), md);
  assert.ok(md.includes('| cpu-simd-1t | SIMD | 125 | 16.00 | 8.00 | 32.0 |'), md);
  assert.ok(md.includes('--arch mobile0.25 --res 640x640 --out bench/results/techniques-mobile0.25.json'));
  assert.is(techniquesSection([]), '');
});

// The benchmarks' Chromium proxy (bench/browser_proxy.ts) must carry the forward pass faithfully:
// every op queued in Node, replayed in the page on gpu.js webgl2, the tensor read back. Checked
// against the naive CPU backend on mobile0.25 with seeded weights on an odd-sized input, at the
// webgl2 network tolerance (test/helpers/gpu_modes.ts), and twice in a row on the same backend
// (handles and weights reused, no state leaking between passes). Nothing here is timed.
test('bench proxy: mobile0.25 on chromium-webgl2 equals cpu-naive, twice in a row', async () => {
  let be: BrowserProxyBackend;
  try {
    be = await BrowserProxyBackend.create('webgl2');
  } catch (e) {
    if (!(e instanceof Unavailable)) throw e;
    if (requiredModes().has('webgl2')) assert.unreachable(`gpu.js webgl2 (Chromium) is required here but not available: ${e.message}`);
    console.log(`  [bench proxy] NOT RUN on this machine: ${e.message}`);
    return;
  }
  try {
    const model = buildRetinaFace('mobile0.25');
    fillRandomWeights(model, 77, true);
    const x = syntheticInput(37, 53, 78);
    const naive = new CpuBackend('naive');
    await naive.prepare(model);
    const want = await runNetwork(naive, model, x);
    await be.prepare(model);
    for (const pass of [1, 2]) {
      const got = await runNetwork(be, model, x);
      for (const k of ['loc', 'conf', 'landms'] as const) {
        assertClose(`pass ${pass} ${k}`, got[k], want[k], networkTolerance('webgl2'));
      }
    }
    assert.is(want.loc.shape[0], 2 * (5 * 7 + 3 * 4 + 2 * 2), 'anchors of a 37x53 input');
  } finally {
    be.dispose();
  }
});

test.run();
