// The one place a gpu.js instance is created and a mode chosen (STYLE: src/backend.ts is meant to
// be that place; its createBackend() factory calls into this file). It also answers, per mode,
// whether the mode can run here and what its limits are, so that the backend can split tensors
// that exceed them and refuse (never silently degrade) where float32 render targets are missing.
import { GPU, HeadlessGLKernel, WebGL2Kernel, WebGLKernel } from 'gpu.js';

/** The gpu.js modes we run. ('gpu', 'async' and 'dev' are gpu.js's own pickers; see 'auto'.) */
export type GpuJsMode = 'cpu' | 'webasm' | 'headlessgl' | 'webgl' | 'webgl2' | 'webgpu';
export const GPUJS_MODES: readonly GpuJsMode[] = ['cpu', 'webasm', 'headlessgl', 'webgl', 'webgl2', 'webgpu'];

/** Preference order of 'auto': real GPUs first, then WebAssembly SIMD, then plain JavaScript. */
export const AUTO_ORDER: readonly GpuJsMode[] = ['webgpu', 'webgl2', 'webgl', 'headlessgl', 'webasm', 'cpu'];

export interface ModeLimits {
  /**
   * The most float32 values one tensor may hold on this mode: a GL texture side squared (one
   * float per texel, R32F / RGBA32F red channel as gpu.js packs 'single' outputs), a WebGPU
   * storage-buffer binding in floats, unbounded on cpu/webasm. Always also at most 2^24: gpu.js
   * forms flat indices into a tensor from float arithmetic in places, exact only below 2^24.
   */
  maxElements: number;
  /** The texture side (GL) or Infinity. */
  maxTextureSize: number;
}

export interface Availability {
  mode: GpuJsMode;
  ok: boolean;
  /** Why not, in one line (or what was found, when ok). */
  reason: string;
}

/** Exact flat indexing limit (float32 represents every integer up to 2^24). */
export const MAX_EXACT_INDEX = 2 ** 24;

type GlKernelClass = { features: { isFloatRead?: boolean; isTextureFloat?: boolean; maxTextureSize?: number } };

function glKernelClass(mode: 'headlessgl' | 'webgl' | 'webgl2'): GlKernelClass {
  return (mode === 'headlessgl' ? HeadlessGLKernel : mode === 'webgl' ? WebGLKernel : WebGL2Kernel) as unknown as GlKernelClass;
}

/** Whether a mode can run here, synchronously checked except for webgpu (an adapter must answer). */
export async function probeMode(mode: GpuJsMode): Promise<Availability> {
  const no = (reason: string): Availability => ({ mode, ok: false, reason });
  switch (mode) {
    case 'cpu':
      return { mode, ok: true, reason: 'plain JavaScript, always available' };
    case 'webasm':
      return GPU.isWebAssemblySupported ? { mode, ok: true, reason: 'WebAssembly SIMD available' } : no('WebAssembly SIMD is not supported by this runtime');
    case 'webgpu': {
      if (!GPU.isWebGPUSupported) return no('navigator.gpu is missing (WebGPU runs in a browser here; the Dawn `webgpu` package does not load on Debian 12)');
      return (await GPU.isWebGPUAvailable()) ? { mode, ok: true, reason: 'a WebGPU adapter answered' } : no('navigator.gpu.requestAdapter() returned no adapter');
    }
    default: {
      const supported = mode === 'headlessgl' ? GPU.isHeadlessGLSupported : mode === 'webgl' ? GPU.isWebGLSupported : GPU.isWebGL2Supported;
      if (!supported) {
        return no(mode === 'headlessgl'
          ? 'the optional `gl` module is not built or no display is available (build gl with libxi-dev libxext-dev libx11-dev pkg-config; run under xvfb-run -a)'
          : `${mode} context cannot be created`);
      }
      const f = glKernelClass(mode).features;
      if ((f.isFloatRead !== true || f.isTextureFloat !== true)) {
        return no(`${mode} has no float32 render targets (OES_texture_float / EXT_color_buffer_float): results would be packed into 8-bit channels, refused`);
      }
      return { mode, ok: true, reason: `${mode} with float32 render targets` };
    }
  }
}

/** Picks the first mode of AUTO_ORDER (or of `order`) that runs here and says why the others did not. */
export async function chooseAutoMode(order: readonly GpuJsMode[] = AUTO_ORDER): Promise<{ mode: GpuJsMode; why: string }> {
  const skipped: string[] = [];
  for (const mode of order) {
    const a = await probeMode(mode);
    if (a.ok) return { mode, why: skipped.length === 0 ? a.reason : `${a.reason}; skipped ${skipped.join('; ')}` };
    skipped.push(`${mode}: ${a.reason}`);
  }
  throw new Error(`no gpu.js mode is available: ${skipped.join('; ')}`);
}

/** Creates the gpu.js instance of a mode; throws with the probe's reason when the mode cannot run. */
export async function createGpu(mode: GpuJsMode): Promise<GPU> {
  const a = await probeMode(mode);
  if (!a.ok) throw new Error(`gpu.js mode '${mode}' is not available: ${a.reason}`);
  return new GPU({ mode });
}

/** The size limits of a mode, queried from its context (GL) or device (WebGPU). */
export async function modeLimits(mode: GpuJsMode, gpu: GPU): Promise<ModeLimits> {
  if (mode === 'cpu' || mode === 'webasm') return { maxElements: MAX_EXACT_INDEX, maxTextureSize: Infinity };
  if (mode === 'webgpu') {
    let binding = 128 * 1024 * 1024; // WebGPU's default maxStorageBufferBindingSize
    try {
      const nav = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<{ limits: { maxStorageBufferBindingSize: number } } | null> } } }).navigator;
      const adapter = await nav?.gpu?.requestAdapter();
      // gpu.js requests its device with default limits, so the default binding size is what holds
      // unless the adapter offers less.
      if (adapter) binding = Math.min(binding, adapter.limits.maxStorageBufferBindingSize);
    } catch { /* keep the default */ }
    return { maxElements: Math.min(MAX_EXACT_INDEX, Math.floor(binding / 4)), maxTextureSize: Infinity };
  }
  const side = glKernelClass(mode).features.maxTextureSize ?? 4096;
  void gpu;
  return { maxElements: Math.min(MAX_EXACT_INDEX, side * side), maxTextureSize: side };
}
