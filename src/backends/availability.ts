// Which backends can run here, and why not: what a page shows before the user picks one (the
// demo greys out the others with the reason). Each probe is cheap and creates nothing that
// outlives it; the gpu.js and cpu-simd code is imported only when asked about.
import type { BackendSpec } from '../backend.js';
import { importGpuJs } from './index.js';
import { RetinaFaceError } from '../errors.js';

export interface BackendAvailability {
  spec: BackendSpec;
  ok: boolean;
  /** Why not, in one line; or what was found (threads, adapter) when ok. */
  reason: string;
}

/** The backends a browser can run, fastest first on a machine without a discrete GPU. */
export const BROWSER_BACKENDS: readonly BackendSpec[] = ['cpu-simd', 'cpu', 'gpujs-webgpu', 'gpujs-webgl2', 'gpujs-webgl', 'gpujs-webasm', 'gpujs-cpu'];

interface PageGlobals {
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number };
}

/** cpu-simd's thread count in a page: every core when the page may share memory, else one. */
function pageThreads(): string {
  const g = globalThis as PageGlobals;
  // Pages and their Web Workers say whether they may share memory; Node, Deno and Bun do not.
  if (typeof g.crossOriginIsolated !== 'boolean') return 'worker threads';
  if (g.crossOriginIsolated === true) return `${g.navigator?.hardwareConcurrency ?? 1} threads (cross-origin isolated)`;
  return '1 thread: the page is not cross-origin isolated (COOP/COEP headers), so it cannot share memory with workers';
}

export async function probeBackend(spec: BackendSpec): Promise<BackendAvailability> {
  const result = (ok: boolean, reason: string): BackendAvailability => ({ spec, ok, reason });
  switch (spec) {
    case 'auto': {
      const simd = await probeBackend('cpu-simd');
      return result(true, simd.ok ? `cpu-simd: ${simd.reason}` : `cpu (cpu-simd: ${simd.reason})`);
    }
    case 'cpu': case 'cpu-fast': case 'cpu-naive':
      return result(true, 'plain JavaScript on Float32Arrays, always available');
    case 'cpu-simd': {
      if (typeof WebAssembly === 'undefined') return result(false, 'WebAssembly is not available');
      try {
        // The backend's own kernel module: if it compiles, the backend runs.
        const { compileSimdModule } = await import('../ops/simd/module.js');
        await compileSimdModule({ initial: 1 });
      } catch (e) {
        return result(false, `WebAssembly SIMD is not supported (${(e as Error).message.split('\n')[0]})`);
      }
      return result(true, `WebAssembly SIMD, ${pageThreads()}`);
    }
    default: {
      if (!spec.startsWith('gpujs-')) return result(false, `unknown backend ${spec}`);
      const mode = spec.slice('gpujs-'.length);
      if (mode === 'auto') return result(true, 'picks the first gpu.js mode that runs');
      try {
        const { probeMode, GPUJS_MODES } = await importGpuJs(() => import('./gpu_instance.js'));
        if (!(GPUJS_MODES as readonly string[]).includes(mode)) return result(false, `unknown gpu.js mode ${mode}`);
        const a = await probeMode(mode as Parameters<typeof probeMode>[0]);
        return result(a.ok, a.reason);
      } catch (e) {
        return result(false, e instanceof RetinaFaceError ? e.message : `gpu.js did not load: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
}

/** probeBackend over `specs` (default BROWSER_BACKENDS), in order. */
export async function probeBackends(specs: readonly BackendSpec[] = BROWSER_BACKENDS): Promise<BackendAvailability[]> {
  const out: BackendAvailability[] = [];
  for (const s of specs) out.push(await probeBackend(s));
  return out;
}
