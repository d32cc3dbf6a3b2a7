// Entry of a 'cpu-simd' worker thread (Node worker_threads or a browser module Web Worker): the
// first message is a WorkerInit; from then on the thread serves tasks (simd_pool.ts workerMain).
import { workerMain, type WorkerInit } from './simd_pool.js';

interface WorkerScope {
  onmessage: ((e: { data: WorkerInit }) => void) | null;
  postMessage(msg: unknown): void;
}

const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;
if (isNode) {
  const { parentPort } = await import('node:worker_threads');
  parentPort!.once('message', (init: WorkerInit) => void workerMain(init, (m) => parentPort!.postMessage(m)));
} else {
  const scope = globalThis as unknown as WorkerScope;
  scope.onmessage = (e) => {
    scope.onmessage = null;
    void workerMain(e.data, (m) => scope.postMessage(m));
  };
}
