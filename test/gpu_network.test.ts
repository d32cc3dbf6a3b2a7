// Tier 2 for the gpu.js backend: the whole forward pass resident on the device, every module
// output and loc/conf/landms against the naive CPU backend (itself proven against PyTorch in the
// reference tests), for mobile0.25 (official weights) and resnet50 (seeded weights), on every
// gpu.js mode available in Node. Also: only the three outputs are read back (taps aside), the
// launch count per forward pass, and no growth of live device objects over repeated passes.
// Sizes are small and odd here because gpu.js 'cpu' and 'webasm' run on two shared cores;
// RETINAFACE_GPU_FULL=1 adds 640x640 and 333x517.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CpuBackend } from '../src/backends/cpu.js';
import { GpuJsBackend } from '../src/backends/gpujs.js';
import { probeMode } from '../src/backends/gpu_instance.js';
import type { Arch } from '../src/model/config.js';
import { runNetwork, type NetworkOutput, type RetinaFace } from '../src/model/retinaface.js';
import type { Tensor } from '../src/tensor.js';
import { assertClose } from './helpers/compare.js';
import { NODE_MODES, networkTolerance, requiredModes } from './helpers/gpu_modes.js';
import { loadGpuTestModel } from './helpers/gpu_weights.js';
import { randomTensor } from './helpers/random.js';

const required = requiredModes();
const FULL = process.env.RETINAFACE_GPU_FULL === '1';

/** Input sizes per arch: odd, non-square, FPN upsampling not exactly 2x. */
const SIZES: Record<Arch, [number, number][]> = {
  'mobile0.25': FULL ? [[640, 640], [333, 517]] : [[67, 45]],
  resnet50: FULL ? [[640, 640], [333, 517]] : [[37, 51]],
};

/** Kernel launches of one forward pass (input copy included), independent of the input size. */
const LAUNCHES: Record<Arch, number> = { 'mobile0.25': 77, resnet50: 120 };

const models = new Map<Arch, RetinaFace>();
async function model(arch: Arch): Promise<RetinaFace> {
  if (!models.has(arch)) models.set(arch, await loadGpuTestModel(arch));
  return models.get(arch)!;
}

const references = new Map<string, NetworkOutput>();
async function reference(arch: Arch, x: Tensor): Promise<NetworkOutput> {
  const key = `${arch} ${x.shape.join('x')}`;
  if (!references.has(key)) {
    const cpu = new CpuBackend('naive');
    await cpu.prepare(await model(arch));
    references.set(key, await runNetwork(cpu, await model(arch), x, true));
  }
  return references.get(key)!;
}

for (const mode of NODE_MODES) {
  for (const arch of ['mobile0.25', 'resnet50'] as Arch[]) {
    test(`gpujs ${mode} ${arch}: loc, conf, landms and every module output equal the naive CPU backend`, async () => {
      const avail = await probeMode(mode);
      if (!avail.ok) {
        if (required.has(mode)) assert.unreachable(`gpu.js mode ${mode} is required here but not available: ${avail.reason}`);
        console.log(`  [gpujs ${mode}] NOT RUN on this machine: ${avail.reason}`);
        return;
      }
      const m = await model(arch);
      const be = await GpuJsBackend.create(mode);
      try {
        await be.prepare(m);
        const tol = networkTolerance(mode);
        for (const [h, w] of SIZES[arch]) {
          const x = randomTensor([3, h, w], h * 1000 + w, -123, 151); // BGR minus means spans about this
          const ref = await reference(arch, x);
          const s0 = { ...be.stats };
          const t0 = performance.now();
          const got = await runNetwork(be, m, x, true);
          const ms = performance.now() - t0;
          assert.is(got.taps.size, ref.taps.size, 'same module outputs observed');
          let worst = 0;
          for (const [path, want] of ref.taps) worst = Math.max(worst, assertClose(`${mode} ${arch} ${h}x${w} ${path}`, got.taps.get(path)!, want, tol).maxAbs);
          for (const k of ['loc', 'conf', 'landms'] as const) worst = Math.max(worst, assertClose(`${mode} ${arch} ${h}x${w} ${k}`, got[k], ref[k], tol).maxAbs);
          assert.is(be.stats.launches - s0.launches, LAUNCHES[arch], 'kernel launches per forward pass');
          assert.is(be.stats.readbacks - s0.readbacks, got.taps.size + 3, 'readbacks: the three outputs and the taps');

          // Untapped: three readbacks, and the live device objects come back to the weights alone.
          await be.settle();
          const live = be.stats.live;
          for (let i = 0; i < 3; i++) {
            const r0 = be.stats.readbacks;
            await runNetwork(be, m, x);
            assert.is(be.stats.readbacks - r0, 3, 'only loc, conf and landms are read back');
            await be.settle();
            assert.is(be.stats.live, live, 'no device object outlives its forward pass');
          }
          console.log(`  [gpujs ${mode} ${arch} ${h}x${w}] ${LAUNCHES[arch]} launches, 3 readbacks; max abs error ${worst.toExponential(2)}; tapped pass ${ms.toFixed(0)} ms`);
        }
      } finally {
        be.dispose();
      }
    });
  }
}

/**
 * The split path: a per-texture limit of 4000 values (instead of 8192^2) splits most tensors of a
 * 67x45 pass into channel parts (the input into 3 parts of 1 channel, 2048-channel maps into
 * many), so that the code that lets 4096x2300 run on a GL or WebGPU context is checked on every
 * mode, at a size gpu.js 'cpu' runs in seconds. Both variants; same tolerance as unsplit.
 */
const SPLIT_LIMIT = 4000;
for (const mode of NODE_MODES) {
  for (const arch of ['mobile0.25', 'resnet50'] as Arch[]) {
    test(`gpujs ${mode} ${arch}: tensors split into channel parts (limit ${SPLIT_LIMIT} values) give the same outputs`, async () => {
      const avail = await probeMode(mode);
      if (!avail.ok) {
        if (required.has(mode)) assert.unreachable(`gpu.js mode ${mode} is required here but not available: ${avail.reason}`);
        console.log(`  [gpujs ${mode}] NOT RUN on this machine: ${avail.reason}`);
        return;
      }
      const m = await model(arch);
      const [h, w] = arch === 'resnet50' ? [37, 51] : [67, 45];
      const x = randomTensor([3, h, w], h * 1000 + w, -123, 151);
      const ref = await reference(arch, x);
      for (const variant of ['fused', 'reference'] as const) {
        const be = await GpuJsBackend.create(mode, variant, { maxElements: SPLIT_LIMIT });
        try {
          await be.prepare(m);
          const s0 = { ...be.stats };
          const got = await runNetwork(be, m, x, true);
          let worst = 0;
          for (const [path, want] of ref.taps) worst = Math.max(worst, assertClose(`${be.name} split ${arch} ${path}`, got.taps.get(path)!, want, networkTolerance(mode)).maxAbs);
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
    });
  }
}

test.run();
