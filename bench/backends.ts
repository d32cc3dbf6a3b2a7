// The one list of backends the benchmarks run. Each entry creates its backend or throws
// Unavailable with the reason (a module not on this branch, a mode that cannot run on this
// machine); the harness reports those as skipped, with the reason, and goes on. Backends built on
// other branches are loaded by module path at run time so that this file compiles without them.
import type { Backend } from '../src/backend.js';
import { CpuBackend } from '../src/backends/cpu.js';
import type { GpuJsMode } from '../src/backends/gpujs_modes.js';
import type { ToleranceKey } from '../src/harness/tolerances.js';

export class Unavailable extends Error {}

export interface BackendEntry {
  name: string;
  /** What it runs on, for the tables: 'CPU, 1 thread', 'gpu.js cpu mode', ... */
  description: string;
  threads: number;
  /** its row in the harness's tolerance table (src/harness/tolerances.ts): kernel checks use it */
  tolerance: ToleranceKey;
  /** false: kernels only (the naive loops take minutes per ResNet-50 forward pass). */
  endToEnd?: boolean;
  create(): Promise<Backend<unknown>>;
  /** Live GPU objects (textures, buffers, kernels) where the backend counts them. */
  liveObjects?(be: Backend<unknown>): number | undefined;
}

/** Imports dist/src/<file>.js if this branch has it; Unavailable naming the source file if not. */
export async function optionalModule(file: string): Promise<Record<string, unknown>> {
  const url = new URL(`../src/${file}.js`, import.meta.url).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(`${file}.js`)) {
      throw new Unavailable(`src/${file}.ts is not on this branch (merge main once it lands)`);
    }
    throw new Unavailable(`src/${file}.ts failed to load: ${(e as Error).message.split('\n')[0]}`);
  }
}

function exported<T>(mod: Record<string, unknown>, file: string, name: string): T {
  const v = mod[name];
  if (v === undefined) throw new Unavailable(`src/${file}.ts exports no ${name}`);
  return v as T;
}

async function guarded(what: string, make: () => Promise<Backend<unknown>>): Promise<Backend<unknown>> {
  try {
    return await make();
  } catch (e) {
    if (e instanceof Unavailable) throw e;
    throw new Unavailable(`${what}: ${(e as Error).message.split('\n')[0]}`);
  }
}

type GpuJsFactory = { create(mode: string): Promise<Backend<unknown> & { stats?: { live?: number } }> };
const gpujs = (mode: GpuJsMode): BackendEntry => ({
  name: `gpujs-${mode}`,
  description: `gpu.js ${mode} mode`,
  threads: 1,
  tolerance: `gpujs-${mode}`,
  create: () => guarded(`gpu.js mode ${mode}`, async () => {
    const cls = exported<GpuJsFactory>(await optionalModule('backends/gpujs'), 'backends/gpujs', 'GpuJsBackend');
    return cls.create(mode);
  }),
  liveObjects: (be) => (be as { stats?: { live?: number } }).stats?.live,
});

type SimdCtor = new (opts: { threads?: number }) => Backend<unknown>;
const cpuSimd = (threads: number): BackendEntry => ({
  name: `cpu-simd-${threads}t`,
  description: `WASM SIMD, ${threads} thread${threads > 1 ? 's' : ''}`,
  threads,
  tolerance: 'cpu-simd',
  create: () => guarded('cpu-simd', async () => {
    const cls = exported<SimdCtor>(await optionalModule('backends/cpu_simd'), 'backends/cpu_simd', 'CpuSimdBackend');
    return new cls({ threads });
  }),
});

/** webgl2 / webgpu run in headless Chromium, driven through a Node-side proxy Backend (bench/browser_proxy.ts). */
const browser = (mode: 'webgl2' | 'webgpu'): BackendEntry => ({
  name: `chromium-${mode}`,
  description: `gpu.js ${mode} in headless Chromium (SwiftShader)`,
  threads: 1,
  tolerance: `gpujs-${mode}`,
  create: () => guarded(`Chromium ${mode}`, async () => {
    const { createBrowserBackend } = await import('./browser_proxy.js');
    return createBrowserBackend(mode) as Promise<Backend<unknown>>;
  }),
  liveObjects: (be) => (be as { stats?: { live?: number } }).stats?.live,
});

export const BACKENDS: readonly BackendEntry[] = [
  { name: 'cpu-naive', description: 'reference loops, 1 thread', threads: 1, tolerance: 'cpu-naive', endToEnd: false, create: async () => new CpuBackend('naive') },
  { name: 'cpu-fast', description: 'GEMM + direct depthwise, 1 thread', threads: 1, tolerance: 'cpu-fast', create: async () => new CpuBackend('fast') },
  cpuSimd(1),
  cpuSimd(2),
  gpujs('cpu'),
  gpujs('webasm'),
  gpujs('headlessgl'),
  browser('webgl2'),
  browser('webgpu'),
];

export interface Opened {
  entry: BackendEntry;
  backend?: Backend<unknown>;
  skipped?: string;
}

/** Creates every backend of the list whose name matches; the others come back with the reason. */
export async function openBackends(only: (name: string) => boolean, entries: readonly BackendEntry[] = BACKENDS): Promise<Opened[]> {
  const out: Opened[] = [];
  for (const entry of entries) {
    if (!only(entry.name)) continue;
    try {
      out.push({ entry, backend: await entry.create() });
    } catch (e) {
      out.push({ entry, skipped: e instanceof Unavailable ? e.message : `failed to start: ${(e as Error).message}` });
    }
  }
  return out;
}
