// Entry of a 'cpu-simd' worker thread in Node (worker_threads, spawned by simd_host.node.ts): the
// first message is a WorkerInit; from then on the thread serves tasks (simd_pool.ts workerMain).
// The browser's module Web Worker entry is simd_worker.ts.
import { parentPort } from 'node:worker_threads';
import { workerMain, type WorkerInit } from './simd_pool.js';

parentPort!.once('message', (init: WorkerInit) => void workerMain(init, (m) => parentPort!.postMessage(m)));
