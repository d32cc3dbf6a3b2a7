// Peer: onnxruntime-web's WebAssembly backend (SIMD build; 1 or 2 threads) run in Node on the
// same exported model. env.wasm.numThreads is process-wide, so each thread count runs in its own
// contestant process (bench/e2e_worker.ts).
import { readFileSync } from 'node:fs';
import { importPeer, runOrt, type OnnxRunner } from './onnx_node.js';

export async function openOnnxWeb(model: string, threads: number): Promise<OnnxRunner> {
  const ort = await importPeer('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(model)), {
    executionProviders: ['wasm'], graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  return { session, ort };
}

export const runOnnxWeb = runOrt;
