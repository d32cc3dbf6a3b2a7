// The Chromium side of the harness: loads the library's compiled modules unbundled (the network,
// the gpu.js backend and the pure test helpers, no Node built-in in the graph) and exposes window.harness for the
// playwright driver (test/browser.test.ts): the harness's op grid, the whole network against reference
// tensors computed in Node, the leak check and timings, per gpu.js mode. Device objects are
// counted by device_objects.ts, so the leak check sees the real textures and buffers.
import { buildRetinaFace } from '../../src/model/retinaface.js';
import { runNetwork } from '../../src/model/run.js';
import { decodeTensorFile } from '../../src/weights/format.js';
import type { Tensor } from '../../src/tensor.js';
import { GpuJsBackend } from '../../src/backends/gpujs.js';
import { CpuBackend } from '../../src/backends/cpu.js';
import { chooseAutoMode, probeMode, type GpuJsMode } from '../../src/backends/gpu_instance.js';
import { facesOf } from '../helpers/faces.js';
import { deviceObjects, installDeviceObjectCounters } from './device_objects.js';
import type { Arch } from '../../src/model/config.js';
import { opCases, type OpCase } from '../../src/harness/cases.js';
import { runCases, type CaseResult } from '../../src/harness/run.js';
import { TOLERANCES } from '../../src/harness/tolerances.js';
import { EVICTION_SIZES, networkTolerance } from '../helpers/gpu_modes.js';
import { evictionInput, runEvictionSizes } from '../helpers/eviction.js';
import { randomTensor } from '../../src/harness/random.js';

installDeviceObjectCounters();
const objects = { get textures() { return deviceObjects().textures; }, get buffers() { return deviceObjects().buffers; } };

async function fetchTensors(url: string): Promise<Map<string, Tensor>> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return decodeTensorFile(new Uint8Array(await r.arrayBuffer()), url).tensors;
}

/** The model from weights converted by Node (test/helpers/gpu_weights.ts) into .cache/weights/. */
async function model(arch: Arch, weightsUrl: string) {
  return buildRetinaFace(arch, await fetchTensors(weightsUrl), weightsUrl);
}

function maxDiff(a: Tensor, b: Tensor, tol: { abs: number; rel: number }) {
  let maxAbs = 0, excess = -Infinity, at = '';
  if (a.shape.join() !== b.shape.join()) return { maxAbs: Infinity, excess: Infinity, at: `shape ${a.shape} != ${b.shape}` };
  for (let i = 0; i < b.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    const x = Number.isNaN(d) ? Infinity : d - tol.abs - tol.rel * Math.abs(b.data[i]!);
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? Infinity : d;
    if (x > excess) { excess = x; at = `index ${i}: got ${a.data[i]}, expected ${b.data[i]}`; }
  }
  return { maxAbs, excess, at };
}

/** The grid, built once per page: each case computes its naive reference on first use, then every mode reuses it. */
let gridCases: OpCase[] | undefined;

const harness = {
  objects: () => ({ textures: objects.textures, buffers: objects.buffers }),
  probe: (mode: GpuJsMode) => probeMode(mode),
  auto: () => chooseAutoMode(),

  /** The harness's op grid (src/harness/cases.ts), as test/backend_ops.test.ts runs it in Node. */
  async cases(mode: GpuJsMode, variant: 'fused' | 'reference'): Promise<CaseResult[]> {
    const be = await GpuJsBackend.create(mode, variant);
    try {
      return await runCases(be, gridCases ??= opCases({ small: false }), TOLERANCES[`gpujs-${mode}`]);
    } finally {
      be.dispose();
    }
  },

  /**
   * The whole network against PyTorch's tensors, which Node wrote into one file with the input
   * tensor ('input'); every reference tensor that this network also produces is compared.
   */
  async network(mode: GpuJsMode, arch: Arch, weightsUrl: string, refUrl: string) {
    const ref = await fetchTensors(refUrl);
    const x = ref.get('input')!;
    ref.delete('input');
    const m = await model(arch, weightsUrl);
    const be = await GpuJsBackend.create(mode);
    try {
      await be.prepare(m);
      const s0 = { ...be.stats };
      let t0 = performance.now();
      const out = await runNetwork(be, m, x, true);
      const tappedMs = performance.now() - t0;
      const launches = be.stats.launches - s0.launches;
      const tol = networkTolerance(mode);
      const failures: string[] = [];
      const compared: string[] = [];
      let worst = 0, worstName = '';
      for (const [name, want] of ref) {
        const got = name === 'loc' ? out.loc : name === 'conf' ? out.conf : name === 'landms' ? out.landms : out.taps.get(name);
        if (got === undefined) continue; // PyTorch-only leaves (body.conv1, body.bn1): fused here
        compared.push(name);
        const d = maxDiff(got, want, tol);
        if (d.maxAbs > worst) { worst = d.maxAbs; worstName = name; }
        if (d.excess > 0) failures.push(`${name}: ${d.at}, max abs ${d.maxAbs}`);
      }
      const r0 = be.stats.readbacks;
      t0 = performance.now();
      await runNetwork(be, m, x);
      const ms = performance.now() - t0;
      return { failures, worst, worstName, compared, launches, readbacks: be.stats.readbacks - r0, tappedMs, ms };
    } finally {
      be.dispose();
    }
  },

  /** Faces (detect.py's defaults) of mobile0.25 on the input tensor of a file Node wrote. */
  async faces(mode: GpuJsMode, weightsUrl: string, inputUrl: string) {
    const x = (await fetchTensors(inputUrl)).get('input')!;
    const m = await model('mobile0.25', weightsUrl);
    const be = await GpuJsBackend.create(mode);
    try {
      await be.prepare(m);
      const t0 = performance.now();
      const faces = facesOf(await runNetwork(be, m, x), x);
      return { faces, ms: performance.now() - t0 };
    } finally {
      be.dispose();
    }
  },

  /** n forward passes in a row: live device objects after each, and after dispose(). */
  async leak(mode: GpuJsMode, weightsUrl: string, n: number, h: number, w: number) {
    const before = { textures: objects.textures, buffers: objects.buffers };
    const m = await model('mobile0.25', weightsUrl);
    const be = await GpuJsBackend.create(mode);
    await be.prepare(m);
    const x = randomTensor([3, h, w], 3, -123, 151);
    const live: number[] = [];
    const device: number[] = [];
    for (let i = 0; i < n; i++) {
      await runNetwork(be, m, x);
      await be.settle();
      live.push(be.stats.live);
      device.push(objects.textures + objects.buffers);
    }
    be.dispose();
    await be.whenDisposed;
    return { before: before.textures + before.buffers, live, device, afterDispose: objects.textures + objects.buffers, stats: be.stats };
  },

  /**
   * EVICTION_SIZES in a row on one backend, then the first again: kernels compiled, kernels
   * held and live device objects after each size, kernels evicted, and the max abs difference of loc/conf/landms
   * of the last pass from the naive CPU backend's.
   */
  async evict(mode: GpuJsMode, weightsUrl: string) {
    const m = await model('mobile0.25', weightsUrl);
    const be = await GpuJsBackend.create(mode);
    const cpu = new CpuBackend('naive');
    try {
      await be.prepare(m);
      await cpu.prepare(m);
      const { compiled, held, live: device } = await runEvictionSizes(be, m, () => objects.textures + objects.buffers);
      const x = evictionInput(EVICTION_SIZES[0]!);
      const got = await runNetwork(be, m, x);
      const want = await runNetwork(cpu, m, x);
      const tol = networkTolerance(mode);
      const diffs = (['loc', 'conf', 'landms'] as const).map((k) => ({ name: k, ...maxDiff(got[k], want[k], tol) }));
      return { compiled, held, device, evicted: be.stats.kernelsEvicted, diffs };
    } finally {
      be.dispose();
      cpu.dispose();
    }
  },

  /** Forward-pass time (steady state, untapped) at a size; the first pass (compiles) apart; non-finite outputs counted. */
  async time(mode: GpuJsMode, arch: Arch, weightsUrl: string, h: number, w: number, runs: number) {
    const m = await model(arch, weightsUrl);
    const be = await GpuJsBackend.create(mode);
    try {
      await be.prepare(m);
      const x = randomTensor([3, h, w], 11, -123, 151);
      let t0 = performance.now();
      const first = await runNetwork(be, m, x);
      const firstMs = performance.now() - t0;
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        t0 = performance.now();
        await runNetwork(be, m, x);
        times.push(performance.now() - t0);
      }
      let nonFinite = 0;
      for (const t of [first.loc, first.conf, first.landms]) for (const v of t.data) if (!Number.isFinite(v)) nonFinite++;
      return { firstMs, times, rows: first.loc.shape[0], nonFinite };
    } finally {
      be.dispose();
    }
  },
};

(globalThis as unknown as { harness: typeof harness }).harness = harness;
document.getElementById('log')!.textContent = 'ready';
