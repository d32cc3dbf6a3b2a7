// What the library's `import ... from 'gpu.js'` becomes in a page: gpu.js's own browser build
// (gpu-browser.min.js, a classic script defining the global GPU), loaded once, next to this
// module's URL, unless the page loaded it already; then the names src/backends imports from it.
// docs/demo/build.ts bundles this module in place of 'gpu.js' (it lands in a lazily loaded chunk
// beside gpu-browser.min.js); the test harness pages map 'gpu.js' to it with an import map, after
// loading gpu-browser.js themselves. Top-level await: whatever imports gpu.js waits for it.
const url = new URL('./gpu-browser.min.js', import.meta.url).href;
// gpu.js's GPU, not WebGPU's interface of the same global name (Chromium defines window.GPU).
const isGpuJs = (g) => typeof g === 'function' && typeof g.isWebGL2Supported === 'boolean';
const G = isGpuJs(globalThis.GPU) ? globalThis.GPU : await new Promise((resolve, reject) => {
  if (typeof document === 'undefined') {
    // A module worker (the detector worker): no <script>, no importScripts. gpu.js's build is a
    // classic script that sets self.GPU; run it as one, through indirect eval (gpu.js itself
    // compiles its kernels with new Function, so a worker that forbids eval cannot run it anyway).
    fetch(url).then((r) => {
      if (!r.ok) throw new Error('cannot load ' + url + ': HTTP ' + r.status);
      return r.text();
    }).then((src) => {
      (0, eval)(src);
      isGpuJs(globalThis.GPU) ? resolve(globalThis.GPU) : reject(new Error(url + ' did not define gpu.js'));
    }, reject);
    return;
  }
  const before = Object.getOwnPropertyDescriptor(globalThis, 'GPU');
  const s = document.createElement('script');
  s.src = url;
  s.onload = () => {
    const g = globalThis.GPU;
    // Give the page its global back (WebGPU's interface, or nothing).
    if (before === undefined) delete globalThis.GPU; else Object.defineProperty(globalThis, 'GPU', before);
    isGpuJs(g) ? resolve(g) : reject(new Error(url + ' did not define gpu.js'));
  };
  s.onerror = () => reject(new Error('cannot load ' + url));
  document.head.appendChild(s);
});
export const GPU = G;
export const Input = G.Input;
export const input = G.input;
export const Texture = G.Texture;
export const WebGLKernel = G.WebGLKernel;
export const WebGL2Kernel = G.WebGL2Kernel;
export const HeadlessGLKernel = G.HeadlessGLKernel;
export const WebGPUKernel = G.WebGPUKernel;
export default G;
