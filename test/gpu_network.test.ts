// Tier 2 for the gpu.js backend in Node (cpu, webasm, headlessgl): the whole forward pass resident
// on the device, every module output and loc/conf/landms against PyTorch running the same
// checkpoint on the same photo (test/torch/reference.py, as test/network.test.ts does for the CPU
// backends), for mobile0.25 (official weights) and resnet50 (seeded weights PyTorch saved); only
// the three outputs are read back (taps aside); the launch count per pass; no device object
// outlives its pass; and the detections on a whole photo equal the CPU backend's (the group photo at
// 640x640; the 2048x1150 selfie with RETINAFACE_GPU_FULL=1).
// Chromium's modes (webgl2, webgpu, webgl) run the same checks in test/browser.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GPU_FULL } from './helpers/paths.js';
import { CpuBackend } from '../src/backends/cpu.js';
import { GpuJsBackend } from '../src/backends/gpujs.js';
import { probeMode, type GpuJsMode } from '../src/backends/gpu_instance.js';
import type { Arch } from '../src/model/config.js';
import { runNetwork, type NetworkOutput } from '../src/model/run.js';
import type { Tensor } from '../src/tensor.js';
import { assertClose } from './helpers/compare.js';
import { compareFaces, cpuFaces, facesOf, GPU_FACES_TOLERANCE } from './helpers/faces.js';
import { NODE_MODES, requiredModes } from '../src/harness/modes.js';
import { EVICTION_SIZES, networkTolerance, UPLOADS_PER_SIZE } from './helpers/gpu_modes.js';
import { evictionInput, runEvictionSizes } from './helpers/eviction.js';
import { gpuTestCheckpoint, loadGpuTestModel } from './helpers/gpu_weights.js';
import { namedInput, type InputId } from './helpers/inputs.js';
import { randomTensor } from '../src/harness/random.js';
import { referenceModuleNames, torchReference } from './helpers/reference.js';

const required = requiredModes();

/**
 * The gpu.js mode that carries the heaviest default case (a whole photo's faces):
 * WebAssembly, the quickest of the Node modes on two cores. The others run it with
 * RETINAFACE_GPU_FULL=1.
 */
const REPRESENTATIVE: GpuJsMode = 'webasm';

/**
 * Inputs per arch and mode: a small odd crop (49x65: maps of 7x9, 4x5, 2x3) on every mode, for
 * both archs; mobile0.25 at 640x640 (16800 anchors) and 333x517 run against PyTorch on the CPU
 * backends (test/network.test.ts), and a whole photo's faces on the representative mode below
 * (FACES_INPUT). resnet50 is ~50x the work: one pass at 333x517 takes 98 s on headlessgl (llvmpipe) and
 * minutes on gpu.js 'cpu'. RETINAFACE_GPU_FULL=1 runs 49x65, 333x517 and 640x640 on every mode,
 * for both archs.
 */
const gpuNetworkInputs = (_arch: Arch, _mode: GpuJsMode): InputId[] => (GPU_FULL ? ['odd49x65', 'odd333x517', 'group640'] : ['odd49x65']);

/** Kernel launches of one forward pass (input copy included), independent of the input size. */
const LAUNCHES: Record<Arch, number> = { 'mobile0.25': 77, resnet50: 120 };

/** Runs body when the mode runs here; otherwise fails (required mode) or says why not. */
async function withMode(mode: GpuJsMode, body: () => Promise<void>): Promise<void> {
  const avail = await probeMode(mode);
  if (!avail.ok) {
    if (required.has(mode)) assert.unreachable(`gpu.js mode ${mode} is required here but not available: ${avail.reason}`);
    console.log(`  [gpujs ${mode}] NOT RUN on this machine: ${avail.reason}`);
    return;
  }
  await body();
}

/** The tensor of a module path (or loc/conf/landms) in a network output. */
function outputOf(out: NetworkOutput, name: string): Tensor | undefined {
  return name === 'loc' ? out.loc : name === 'conf' ? out.conf : name === 'landms' ? out.landms : out.taps.get(name);
}

/** ResNet-50 on gpu.js 'cpu' (plain JavaScript, 13 s at 49x65) with RETINAFACE_GPU_FULL=1; on webasm and headlessgl always. */
const networkArchs = (mode: GpuJsMode): Arch[] => (GPU_FULL || mode !== 'cpu' ? ['mobile0.25', 'resnet50'] : ['mobile0.25']);
for (const mode of NODE_MODES) {
  for (const arch of networkArchs(mode)) {
    test(`gpujs ${mode} ${arch} (${gpuNetworkInputs(arch, mode).join(', ')}): every module output and loc/conf/landms equal PyTorch's`, () => withMode(mode, async () => {
      const m = await loadGpuTestModel(arch);
      const file = await gpuTestCheckpoint(arch);
      const be = await GpuJsBackend.create(mode);
      try {
        await be.prepare(m);
        const tol = networkTolerance(mode);
        for (const id of gpuNetworkInputs(arch, mode)) {
          const x = namedInput(id);
          const expected = await torchReference(arch, file, x);
          const s0 = { ...be.stats };
          let t0 = performance.now();
          const got = await runNetwork(be, m, x, true);
          const tappedMs = performance.now() - t0;
          const compared: string[] = [];
          let worst = { name: '', err: 0 };
          for (const [name, want] of expected) {
            const t = outputOf(got, name);
            if (t === undefined) continue; // PyTorch-only leaves (body.conv1, body.bn1): fused here
            const d = assertClose(`${mode} ${arch} ${id} ${name}`, t, want, tol);
            if (d.maxAbsError > worst.err) worst = { name, err: d.maxAbsError };
            compared.push(name);
          }
          const missing = [...referenceModuleNames(arch), 'loc', 'conf', 'landms'].filter((n) => !compared.includes(n) && !['body.conv1', 'body.bn1'].includes(n));
          assert.equal(missing, [], 'module outputs not compared');
          assert.is(be.stats.launches - s0.launches, LAUNCHES[arch], 'kernel launches per forward pass');
          assert.is(be.stats.readbacks - s0.readbacks, got.taps.size + 3, 'readbacks: the three outputs and the taps');

          // Untapped: three readbacks, and the live device objects come back to the weights alone.
          await be.settle();
          const live = be.stats.live;
          const r0 = be.stats.readbacks;
          t0 = performance.now();
          await runNetwork(be, m, x);
          const ms = performance.now() - t0;
          assert.is(be.stats.readbacks - r0, 3, 'only loc, conf and landms are read back');
          await be.settle();
          assert.is(be.stats.live, live, 'no device object outlives its forward pass');
          const [, h, w] = x.shape;
          console.log(`  [gpujs ${mode} ${arch} ${h}x${w}] ${compared.length} tensors vs PyTorch, worst ${worst.name} ${worst.err.toExponential(2)}; ` +
            `${LAUNCHES[arch]} launches, 3 readbacks; forward ${ms.toFixed(0)} ms (tapped ${tappedMs.toFixed(0)} ms)`);
        }
      } finally {
        be.dispose();
      }
    }));
  }
}

/**
 * A whole photo's faces on gpu.js against the CPU backend's: the group photo at 640x640 (16800
 * anchors) on the representative mode by default; the 2048x1150 selfie (53 s of gpu.js
 * WebAssembly here) on every mode with RETINAFACE_GPU_FULL=1.
 */
const FACES_INPUT: InputId = GPU_FULL ? 'selfie' : 'group640';
const FACES_SIZE = GPU_FULL ? '2048x1150' : '640x640';

for (const mode of GPU_FULL ? NODE_MODES : [REPRESENTATIVE]) {
  const size = FACES_SIZE;
  test(`gpujs ${mode}: the faces on the ${FACES_INPUT} photo (${size}) equal the CPU backend's (boxes ${GPU_FACES_TOLERANCE.px} px, scores ${GPU_FACES_TOLERANCE.score})`, () => withMode(mode, async () => {
    const m = await loadGpuTestModel('mobile0.25');
    const x = namedInput(FACES_INPUT);
    const want = await cpuFaces(m, x);
    const be = await GpuJsBackend.create(mode);
    try {
      await be.prepare(m);
      const t0 = performance.now();
      const got = facesOf(await runNetwork(be, m, x), x);
      const ms = performance.now() - t0;
      const d = compareFaces(got, want);
      if (d.failures.length > 0) assert.unreachable(`${d.failures.length} differences:\n  ${d.failures.slice(0, 8).join('\n  ')}`);
      console.log(`  [gpujs ${mode} ${FACES_INPUT} ${size}] ${got.length} faces as on the CPU; max ${d.maxPx.toExponential(2)} px, score ${d.maxScore.toExponential(2)}; forward ${ms.toFixed(0)} ms`);
    } finally {
      be.dispose();
    }
  }));
}

/** The naive CPU backend's outputs (every module tapped) for the split checks below. */
const references = new Map<string, NetworkOutput>();
async function reference(arch: Arch, x: Tensor): Promise<NetworkOutput> {
  const key = `${arch} ${x.shape.join('x')}`;
  if (!references.has(key)) {
    const m = await loadGpuTestModel(arch);
    const cpu = new CpuBackend('naive');
    await cpu.prepare(m);
    references.set(key, await runNetwork(cpu, m, x, true));
  }
  return references.get(key)!;
}

/**
 * The split path: a per-texture limit of 4000 values (instead of 8192^2) splits most tensors of a
 * 67x45 pass into channel parts (the input into 3 parts of 1 channel, 2048-channel maps into
 * many), so that the code that lets 4096x2300 run on a GL or WebGPU context is checked on every
 * mode, at a size gpu.js 'cpu' runs in seconds. Both variants; same tolerance as unsplit.
 */
const SPLIT_LIMIT = 4000;
/**
 * And at most 7 slabs per ROWS_LAYOUT output (WebGPU allows 65535 workgroups per dimension, which
 * the stride-8 rows of a 4096x2300 image exceed): the head rows go into padded slabs of 5 to 21
 * rows, levels of different slab heights are concatenated, and the padding is dropped at readback.
 */
const SLAB_LIMIT = 7;
/**
 * mobile0.25 split on every mode; ResNet-50 (1360-1826 launches split: 11 s per variant on
 * webasm, 25 s on headlessgl) on webasm, and on every mode with RETINAFACE_GPU_FULL=1.
 */
const splitArchs = (mode: GpuJsMode): Arch[] => (GPU_FULL || mode === REPRESENTATIVE ? ['mobile0.25', 'resnet50'] : ['mobile0.25']);
for (const mode of NODE_MODES) {
  for (const arch of splitArchs(mode)) {
    test(`gpujs ${mode} ${arch}: tensors split into channel parts (limit ${SPLIT_LIMIT} values) and rows into ${SLAB_LIMIT} slabs give the same outputs`, () => withMode(mode, async () => {
      const m = await loadGpuTestModel(arch);
      const [h, w] = arch === 'resnet50' ? [37, 51] : [67, 45];
      const x = randomTensor([3, h, w], h * 1000 + w, -123, 151);
      const ref = await reference(arch, x);
      for (const variant of ['fused', 'reference'] as const) {
        const be = await GpuJsBackend.create(mode, variant, { maxElements: SPLIT_LIMIT, maxSlabs: SLAB_LIMIT });
        try {
          await be.prepare(m);
          const s0 = { ...be.stats };
          const got = await runNetwork(be, m, x, true);
          let worst = 0;
          for (const [path, want] of ref.taps) worst = Math.max(worst, assertClose(`${be.name} split ${arch} ${path}`, got.taps.get(path)!, want, networkTolerance(mode)).maxAbsError);
          const launches = be.stats.launches - s0.launches;
          assert.ok(launches > LAUNCHES[arch], `split: ${launches} launches`);
          await be.settle();
          const live = be.stats.live;
          await runNetwork(be, m, x);
          await be.settle();
          assert.is(be.stats.live, live, 'no part outlives its forward pass');
          console.log(`  [gpujs ${mode} ${variant} ${arch} ${h}x${w} split] ${launches} launches; max abs error ${worst.toExponential(2)}`);
        } finally {
          be.dispose();
        }
      }
    }));
  }
}

/**
 * Kernels of an input size are destroyed when another size comes (KERNEL_SIZES_KEPT = 1): over
 * four sizes in a row the kernels held and the live device objects stay those of one size (plus
 * the copy kernels that uploaded index tables, which stay: at most UPLOADS_PER_SIZE a size), and
 * the first size, run again after its kernels were destroyed, recompiles and equals the naive
 * CPU backend. A tensor of an older size that the caller holds postpones the eviction.
 */
const SIZES = EVICTION_SIZES;
for (const mode of NODE_MODES) {
  test(`gpujs ${mode}: kernels of an input size are destroyed when the next size comes, and a size seen again recompiles correctly`, () => withMode(mode, async () => {
    const m = await loadGpuTestModel('mobile0.25');
    const be = await GpuJsBackend.create(mode);
    try {
      await be.prepare(m);
      const { compiled, held, live } = await runEvictionSizes(be, m, () => be.stats.live);
      assert.ok(compiled.every((n) => n > 20), `compiled per size: ${compiled}`);
      assert.is(be.kernelCount, be.stats.kernelsCompiled - be.stats.kernelsEvicted);
      held.forEach((n, i) => assert.ok(n <= held[0]! + UPLOADS_PER_SIZE * i, `kernels held after each size: ${held}`));
      live.forEach((n, i) => assert.ok(n <= live[0]! + UPLOADS_PER_SIZE * i, `live device objects after each size: ${live}`));
      const x = evictionInput(SIZES[0]!);
      const got = await runNetwork(be, m, x);
      const want = await reference('mobile0.25', x);
      for (const name of ['loc', 'conf', 'landms'] as const) assertClose(`${be.name} ${name} after eviction`, got[name], want[name], networkTolerance(mode));
      // A tensor of an older size that the caller still holds keeps its kernels (destroying the
      // upload's kernel would delete it): nothing is evicted until it is released.
      const kept = randomTensor([3, 21, 19], 2119, -123, 151);
      const handle = be.upload(kept);
      const evictedBefore = be.stats.kernelsEvicted;
      for (const size of SIZES.slice(1, 3)) await runNetwork(be, m, evictionInput(size));
      assert.is(be.stats.kernelsEvicted, evictedBefore, 'no eviction while a tensor of an older size is held');
      assert.equal((await be.read(handle)).data, kept.data, 'the held tensor is intact');
      be.release(handle);
      await runNetwork(be, m, x);
      await be.settle();
      assert.ok(be.kernelCount <= held[0]! + UPLOADS_PER_SIZE * SIZES.length, `released: held ${be.kernelCount}`);
      console.log(`  [gpujs ${mode} sizes ${SIZES.map(([a, b]) => `${a}x${b}`).join(', ')}] compiled ${compiled.join(', ')}; held ${held.join(', ')}; ` +
        `live device objects ${live.join(', ')}; evicted ${be.stats.kernelsEvicted}`);
    } finally {
      be.dispose();
    }
  }));
}

test.run();
