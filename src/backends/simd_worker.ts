// Entry of a 'cpu-simd' worker in the browser (a module Web Worker, spawned by
// simd_host.browser.ts): the first message is a WorkerInit; from then on the worker serves tasks
// (simd_pool.ts workerMain). Node's entry is simd_worker.node.ts. The browser bundle builds this
// file as its own entry point, beside the library (docs/demo/build.ts).
import { workerMain, type WorkerInit } from './simd_pool.js';

interface WorkerScope {
  onmessage: ((e: { data: WorkerInit }) => void) | null;
  postMessage(msg: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;
scope.onmessage = (e) => {
  scope.onmessage = null;
  void workerMain(e.data, (m) => scope.postMessage(m));
};
