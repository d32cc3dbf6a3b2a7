// Maps the bare 'gpu.js' import of the library's ES modules to the global that gpu.js's browser
// build (node_modules/gpu.js/dist/gpu-browser.js, loaded first by index.html) defines.
const G = globalThis.GPU;
if (G === undefined) throw new Error('gpu-browser.js must be loaded before the modules that import gpu.js');
export const GPU = G;
export const Input = G.Input;
export const input = G.input;
export const Texture = G.Texture;
export const WebGLKernel = G.WebGLKernel;
export const WebGL2Kernel = G.WebGL2Kernel;
export const HeadlessGLKernel = G.HeadlessGLKernel;
export const WebGPUKernel = G.WebGPUKernel;
export default G;
