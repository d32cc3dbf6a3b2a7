// The kernel-eviction run shared by Node (test/gpu_network.test.ts) and Chromium
// (test/browser/page.ts): EVICTION_SIZES in a row on one gpu.js backend, recording after each
// size the kernels it compiled, the kernels held and the device objects live (counted by the
// caller: the backend's own count in Node, the page's WebGL/WebGPU wrappers in Chromium).
// Pure: no Node built-in.
import type { GpuJsBackend } from '../../src/backends/gpujs.js';
import { type RetinaFace } from '../../src/model/retinaface.js';
import { runNetwork } from '../../src/model/run.js';
import type { Tensor } from '../../src/tensor.js';
import { EVICTION_SIZES } from './gpu_modes.js';
import { randomTensor } from '../../src/harness/random.js';

/** The seeded input of an eviction size (the same tensor each time it is asked for). */
export function evictionInput([h, w]: readonly [number, number]): Tensor {
  return randomTensor([3, h, w], h * 100 + w, -123, 151);
}

export interface EvictionRun {
  compiled: number[];
  held: number[];
  live: number[];
}

export async function runEvictionSizes(be: GpuJsBackend, m: RetinaFace, live: () => number): Promise<EvictionRun> {
  const run: EvictionRun = { compiled: [], held: [], live: [] };
  for (const size of EVICTION_SIZES) {
    const before = be.stats.kernelsCompiled;
    await runNetwork(be, m, evictionInput(size));
    await be.settle();
    run.compiled.push(be.stats.kernelsCompiled - before);
    run.held.push(be.kernelCount);
    run.live.push(live());
  }
  return run;
}
