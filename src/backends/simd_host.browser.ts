// The browser's thread host for the 'cpu-simd' backend: module Web Workers sharing one
// WebAssembly.Memory, which needs a cross-origin isolated page (SharedArrayBuffer); elsewhere
// the backend runs on one thread. A page's main thread may not block: it spins while workers
// finish; inside a Web Worker it waits.
import type { ThreadHost, WorkerHandle, WorkerInit } from './simd_pool.js';

interface BrowserGlobals {
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number };
}

function spawn(): WorkerHandle {
  const worker = new Worker(new URL('./simd_worker.js', import.meta.url), { type: 'module' });
  const ready = new Promise<void>((resolve, reject) => {
    worker.addEventListener('message', (e) => (e.data === 'ready' ? resolve() : reject(new Error(`cpu-simd worker: ${String(e.data)}`))), { once: true });
    worker.addEventListener('error', (e) => reject(new Error(`cpu-simd worker: ${e.message}`)), { once: true });
  });
  ready.catch(() => {});
  return { post: (init: WorkerInit) => worker.postMessage(init), ready: () => ready, terminate: () => worker.terminate() };
}

export const browserHost: ThreadHost = {
  defaultThreads: () => {
    const g = globalThis as BrowserGlobals;
    return g.crossOriginIsolated === true ? g.navigator?.hardwareConcurrency ?? 1 : 1;
  },
  spawn,
  // A page's main thread may not block (Atomics.wait throws there): it spins. A Web Worker (the
  // detector worker) may, and waiting leaves the core to the threads it waits for.
  canBlock: typeof (globalThis as { document?: unknown }).document === 'undefined',
};
