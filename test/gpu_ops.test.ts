// The gpu.js backend's modes: one that cannot run is refused with its reason, 'auto' picks the best
// that runs. Its kernels against the naive loops: test/backend_ops.test.ts (the harness's grid).
import { test } from 'uvu';
import { RetinaFaceError } from '../src/errors.js';
import * as assert from 'uvu/assert';
import { GpuJsBackend } from '../src/backends/gpujs.js';
import { probeMode } from '../src/backends/gpu_instance.js';

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
