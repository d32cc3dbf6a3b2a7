// The browser entry: the pure parts of the library, nothing that imports a Node built-in anywhere
// in its import graph (test/browser_build.test.ts walks the graph and fails on one). 'gpu.js'
// resolves in a bundler through gpu.js's "browser" field (dist/gpu-browser.js); unbundled pages
// map it to the global the script build defines (test/browser/gpujs-shim.js does that).
export { GpuJsBackend, type GpuJsVariant, type GpuTensor, type GpuJsStats } from './backends/gpujs.js';
export { AUTO_ORDER, GPUJS_MODES, chooseAutoMode, probeMode, type GpuJsMode } from './backends/gpu_instance.js';
export { CpuBackend } from './backends/cpu.js';
export type { Backend } from './backend.js';
export { buildRetinaFace, runNetwork, RetinaFace, type NetworkOutput } from './model/retinaface.js';
export { decodeTensorFile, encodeTensorFile } from './weights/format.js';
export type { Tensor } from './tensor.js';
