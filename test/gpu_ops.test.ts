// Tier 1 for the gpu.js backend: every gpu.js kernel (both backend variants: fused, and conv / batch
// norm / activation as separate kernels) against the naive CPU loops, over the grid of
// test/helpers/gpu_twins.ts, on every gpu.js mode available in Node (cpu, webasm, headlessgl).
// The browser modes run the same grid in Chromium (test/browser.test.ts).
import { test } from 'uvu';
import { RetinaFaceError } from '../src/errors.js';
import * as assert from 'uvu/assert';
import { GpuJsBackend, type GpuJsVariant } from '../src/backends/gpujs.js';
import { probeMode } from '../src/backends/gpu_instance.js';
import { NODE_MODES, requiredModes } from '../src/harness/modes.js';
import { twinTolerance } from './helpers/gpu_modes.js';
import { runTwins } from './helpers/gpu_twins.js';

const required = requiredModes();

for (const mode of NODE_MODES) {
  for (const variant of ['fused', 'reference'] as GpuJsVariant[]) {
    test(`gpujs ${mode} ${variant}: every kernel equals the naive CPU loop over the shape grid`, async () => {
      const avail = await probeMode(mode);
      if (!avail.ok) {
        if (required.has(mode)) assert.unreachable(`gpu.js mode ${mode} is required here but not available: ${avail.reason}`);
        console.log(`  [gpujs ${mode}] NOT RUN on this machine: ${avail.reason}`);
        return;
      }
      const be = await GpuJsBackend.create(mode, variant);
      try {
        const tol = twinTolerance(mode);
        const results = await runTwins(be, tol, mode === 'cpu');
        assert.ok(results.length > 80, `${results.length} checks`);
        const bad = results.filter((r) => r.excess > 0);
        if (bad.length > 0) {
          assert.unreachable(`${bad.length} of ${results.length} out of tolerance (abs ${tol.abs}, rel ${tol.rel}):\n` +
            bad.slice(0, 8).map((r) => `  ${r.name}: ${r.worst}, max abs error ${r.maxAbs}`).join('\n'));
        }
        const worst = Math.max(...results.map((r) => r.maxAbs));
        console.log(`  [gpujs ${mode} ${variant}] ${results.length} twins, max abs error ${worst.toExponential(2)}`);
      } finally {
        be.dispose();
      }
      await be.whenDisposed;
      assert.is(be.stats.live, 0, 'dispose() deleted every texture/buffer the grid and the weights used');
    });
  }
}

test('gpujs: a mode that cannot run is refused with its reason, not degraded', async () => {
  const a = await probeMode('webgpu');
  assert.ok(!a.ok, 'no WebGPU in Node');
  assert.match(a.reason, /navigator\.gpu/);
  await GpuJsBackend.create('webgpu').then(
    () => assert.unreachable('created a webgpu backend in Node'),
    (e: Error) => {
      assert.instance(e, RetinaFaceError);
      assert.is((e as RetinaFaceError).code, 'EBACKEND');
      assert.match(e.message, /^backend gpujs-webgpu is not available here: navigator\.gpu is missing/);
    },
  );
});

test('gpujs auto: picks the best mode that runs here and says why the others fell back', async () => {
  const be = await GpuJsBackend.create('auto');
  try {
    const headless = await probeMode('headlessgl');
    assert.is(be.mode, headless.ok ? 'headlessgl' : 'webasm', be.why);
    assert.match(be.why, /webgpu: navigator\.gpu is missing/);
    if (!headless.ok) assert.match(be.why, /headlessgl: /);
    console.log(`  [gpujs auto] got ${be.mode}: ${be.why}`);
  } finally {
    be.dispose();
  }
});

test.run();
