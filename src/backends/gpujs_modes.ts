// The gpu.js modes by name, apart from gpu_instance.ts so that the names (and the published type
// declarations that mention them) need no gpu.js: it is an optional peer dependency.

/** The gpu.js modes we run. ('gpu', 'async' and 'dev' are gpu.js's own pickers; see 'auto'.) */
export type GpuJsMode = 'cpu' | 'webasm' | 'headlessgl' | 'webgl' | 'webgl2' | 'webgpu';
export const GPUJS_MODES: readonly GpuJsMode[] = ['cpu', 'webasm', 'headlessgl', 'webgl', 'webgl2', 'webgpu'];
