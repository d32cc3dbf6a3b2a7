// The one place a backend name becomes a backend: createBackend. The interface every backend
// implements (and the names) live in ../backend.ts, which imports no backend; this file imports
// each backend only when it is asked for, so a bundle splits them into chunks.
import { BACKEND_SPECS, type Backend, type BackendOptions, type BackendSpec } from '../backend.js';
import { RetinaFaceError } from '../errors.js';

/** The message of the gpujs-* backends when the optional peer dependency gpu.js is not installed. */
export const GPUJS_MISSING = 'the gpujs backends need the gpu.js package: npm install gpu.js';

/** Imports the gpu.js backend, or says in one line that the optional gpu.js package is missing. */
export async function importGpuJs<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const err = e as { code?: string; message?: string };
    // Node: ERR_MODULE_NOT_FOUND "Cannot find package 'gpu.js'"; bundlers and Deno word it otherwise.
    if (/['"]gpu\.js['"]/.test(err.message ?? '') && (err.code === 'ERR_MODULE_NOT_FOUND' || /cannot find|not found|failed to resolve/i.test(err.message ?? ''))) {
      throw new RetinaFaceError(GPUJS_MISSING, { code: 'EDEPENDENCY', cause: e });
    }
    throw e;
  }
}

/**
 * 'auto': cpu-simd where its WebAssembly SIMD module compiles (every current browser, Node >= 16,
 * Deno, Bun), else the plain JavaScript 'cpu'. The probe compiles the backend's own kernel module.
 */
async function chooseAuto(options: BackendOptions): Promise<{ spec: 'cpu-simd' | 'cpu'; why: string }> {
  if (typeof WebAssembly === 'undefined') return { spec: 'cpu', why: 'auto chose cpu: WebAssembly is not available here' };
  try {
    const { compileSimdModule } = await import('../ops/simd/module.js');
    await compileSimdModule({ initial: 1 });
  } catch (e) {
    const why = String((e as Error).message).split('\n')[0];
    // Compiling from bytes forbidden (a Cloudflare Worker) is no obstacle to modules compiled
    // at build time: instantiating those is allowed.
    if (options.simdModules?.plain !== undefined || options.simdModules?.shared !== undefined) {
      return { spec: 'cpu-simd', why: `auto chose cpu-simd: precompiled modules given (compiling WebAssembly here fails: ${why})` };
    }
    return { spec: 'cpu', why: `auto chose cpu: WebAssembly SIMD does not compile here (${why})` };
  }
  return { spec: 'cpu-simd', why: 'auto chose cpu-simd: WebAssembly SIMD compiles here' };
}

/** The one place that turns a backend name into a backend (and, for GPUs, a device context). */
export async function createBackend(spec: BackendSpec, options: BackendOptions = {}): Promise<Backend<unknown>> {
  if (spec === 'auto') {
    const chosen = await chooseAuto(options);
    const be = await createBackend(chosen.spec, options);
    be.why = chosen.why;
    return be;
  }
  if (spec.startsWith('gpujs-')) {
    const { GpuJsBackend } = await importGpuJs(() => import('./gpujs.js'));
    const mode = spec.slice('gpujs-'.length) as Parameters<typeof GpuJsBackend.create>[0];
    const be = await GpuJsBackend.create(mode);
    if (mode === 'auto') be.why = `gpujs-auto chose ${be.mode}: ${be.why}`;
    return be as Backend<unknown>;
  }
  switch (spec) {
    case 'cpu':
    case 'cpu-fast':
    case 'cpu-naive': {
      const { CpuBackend } = await import('./cpu.js');
      return new CpuBackend(spec === 'cpu-naive' ? 'naive' : 'fast') as Backend<unknown>;
    }
    case 'cpu-simd': {
      const { CpuSimdBackend } = await import('./cpu_simd.js');
      return new CpuSimdBackend({
        threads: options.threads, modules: options.simdModules, fma: options.fma, winogradTile: options.winogradTile, strassen: options.strassen,
      }) as Backend<unknown>;
    }
    default:
      throw new RetinaFaceError(`unknown backend ${String(spec)} (expected one of ${BACKEND_SPECS.join(', ')})`, { code: 'EOPTION' });
  }
}
