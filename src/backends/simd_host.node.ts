// Node's thread host for the 'cpu-simd' backend: worker_threads and os.availableParallelism(),
// and relaxed SIMD on Node 20 (V8 11.3 has it behind --experimental-wasm-relaxed-simd; V8 ships
// it on from 11.4, Node 22). The only file of the backend that imports Node modules (loaded by a
// dynamic import in Node only).
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { ThreadHost, WorkerHandle, WorkerInit } from './simd_pool.js';
import { relaxedSimdSupported } from '../ops/simd/module.js';

function spawn(): WorkerHandle {
  const worker = new Worker(new URL('./simd_worker.node.js', import.meta.url));
  worker.on('message', (m: unknown) => {
    if (typeof m === 'string' && m.startsWith('error')) console.error(`cpu-simd worker ${m}`);
  });
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', (m: unknown) => (m === 'ready' ? resolve() : reject(new Error(`cpu-simd worker: ${String(m)}`))));
    worker.once('error', reject);
  });
  // The worker blocks in Atomics.wait between tasks and must not keep the process alive once the
  // work is done, dispose() or not. It is unreferenced only after its 'ready': before that the
  // pending start is what keeps the event loop (and Deno's) waiting for it. The unref comes after
  // every listener, since adding a 'message' listener references the worker's port again.
  ready.then(() => worker.unref(), () => {});
  return {
    post: (init: WorkerInit) => worker.postMessage(init),
    ready: () => ready,
    terminate: () => void worker.terminate(),
  };
}

/**
 * Relaxed SIMD, turning on V8's flag where that is what it takes. The flag only lets the engine
 * accept relaxed SIMD's instructions (a finished proposal, on by default in later V8), in this
 * process and its workers, for modules compiled from then on: nothing else changes.
 */
function relaxedSimd(): boolean {
  if (relaxedSimdSupported()) return true;
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false; // a runtime whose node:v8 is a stub (Bun's engine is not V8)
  }
  return relaxedSimdSupported();
}

export const nodeHost: ThreadHost = { defaultThreads: () => availableParallelism(), spawn, canBlock: true, relaxedSimd };
