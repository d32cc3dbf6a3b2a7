// The one place a gpu.js instance is created and a mode chosen (STYLE: src/backend.ts is meant to
// be that place; its createBackend() factory calls into this file). It also answers, per mode,
// whether the mode can run here and what its limits are, so that the backend can split tensors
// that exceed them and refuse (never silently degrade) where float32 render targets are missing.
import { GPU, HeadlessGLKernel, WebGL2Kernel, WebGLKernel } from 'gpu.js';

import type { GpuJsMode } from './gpujs_modes.js';
import { RetinaFaceError } from '../errors.js';

export { GPUJS_MODES, type GpuJsMode } from './gpujs_modes.js';

/** Preference order of 'auto': real GPUs first, then WebAssembly SIMD, then plain JavaScript. */
export const AUTO_ORDER: readonly GpuJsMode[] = ['webgpu', 'webgl2', 'webgl', 'headlessgl', 'webasm', 'cpu'];

export interface ModeLimits {
  /**
   * The most float32 values one tensor may hold on this mode: a GL texture side squared (gpu.js
   * packs a 3D 'single' output one float per texel into a near-square texture), a WebGPU storage
   * buffer (min of maxStorageBufferBindingSize and maxBufferSize, which gpu.js requests at the
   * adapter's maximum) in floats, unbounded on cpu/webasm.
   */
  maxElements: number;
  /** The texture side (GL) or Infinity. */
  maxTextureSize: number;
  /** WebGPU's maxComputeWorkgroupsPerDimension (gpu.js dispatches one workgroup per z index of a 3D output), else Infinity. */
  maxWorkgroupsPerDimension: number;
}

export interface Availability {
  mode: GpuJsMode;
  ok: boolean;
  /** Why not, in one line (or what was found, when ok). */
  reason: string;
}

type GlKernelClass = { features: { isFloatRead?: boolean; isTextureFloat?: boolean; maxTextureSize?: number } };

function glKernelClass(mode: 'headlessgl' | 'webgl' | 'webgl2'): GlKernelClass {
  return (mode === 'headlessgl' ? HeadlessGLKernel : mode === 'webgl' ? WebGLKernel : WebGL2Kernel) as unknown as GlKernelClass;
}

/** Why headlessgl cannot run: gl is a native addon for Node (built by node-gyp against nan). */
function headlessGlWhy(): string {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return 'the `gl` module is a native addon on the legacy nan API, which Deno does not load (Deno loads Node-API addons only)';
  if (g.Bun !== undefined) return 'the `gl` module is a native addon built for Node\'s ABI, whose ABI version Bun refuses (run headlessgl on Node)';
  return 'the optional `gl` module is not built or no display is available (build gl with libxi-dev libxext-dev libx11-dev pkg-config; run under xvfb-run -a)';
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
        return no(mode === 'headlessgl' ? headlessGlWhy() : `${mode} context cannot be created`);
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
  throw new RetinaFaceError(`no gpu.js mode is available: ${skipped.join('; ')}`, { code: 'EBACKEND' });
}

/** Creates the gpu.js instance of a mode; throws with the probe's reason when the mode cannot run. */
export async function createGpu(mode: GpuJsMode): Promise<GPU> {
  const a = await probeMode(mode);
  if (!a.ok) throw new RetinaFaceError(`backend gpujs-${mode} is not available here: ${a.reason}`, { code: 'EBACKEND' });
  return new GPU({ mode });
}

/**
 * gpu.js requests the adapter's buffer limits for its device, but not maxComputeWorkgroupsPerDimension,
 * so its device keeps WebGPU's default (the spec's minimum): 65535.
 */
const WEBGPU_DEFAULT_WORKGROUPS_PER_DIMENSION = 65535;

/** The size limits of a mode, queried from its context (GL) or adapter (WebGPU). */
export async function modeLimits(mode: GpuJsMode): Promise<ModeLimits> {
  if (mode === 'cpu' || mode === 'webasm') return { maxElements: Infinity, maxTextureSize: Infinity, maxWorkgroupsPerDimension: Infinity };
  if (mode === 'webgpu') {
    const nav = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<{ limits: Record<string, number> } | null> } } }).navigator;
    const adapter = await nav?.gpu?.requestAdapter();
    if (!adapter) throw new Error('webgpu: no adapter to query limits from');
    const bytes = Math.min(adapter.limits.maxStorageBufferBindingSize!, adapter.limits.maxBufferSize!);
    return { maxElements: Math.floor(bytes / 4), maxTextureSize: Infinity, maxWorkgroupsPerDimension: WEBGPU_DEFAULT_WORKGROUPS_PER_DIMENSION };
  }
  const side = glKernelClass(mode).features.maxTextureSize;
  if (side === undefined) throw new Error(`${mode}: MAX_TEXTURE_SIZE could not be queried`);
  return { maxElements: side * side, maxTextureSize: side, maxWorkgroupsPerDimension: Infinity };
}
