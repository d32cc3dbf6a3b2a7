// The benchmarks' Chromium proxy (bench/browser_proxy.ts) must carry the forward pass faithfully:
// every op queued in Node, replayed in the page on gpu.js webgl2, the tensor read back. Checked
// against the naive CPU backend on mobile0.25 with seeded weights on an odd-sized input, at the
// webgl2 network tolerance (test/helpers/gpu_modes.ts), and twice in a row on the same backend
// (handles and weights reused, no state leaking between passes). Nothing here is timed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BrowserProxyBackend } from '../bench/browser_proxy.js';
import { Unavailable } from '../bench/backends.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';
import { CpuBackend } from '../src/backends/cpu.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { requiredModes } from '../src/harness/modes.js';
import { networkTolerance } from './helpers/gpu_modes.js';
import { assertClose } from './helpers/compare.js';

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
