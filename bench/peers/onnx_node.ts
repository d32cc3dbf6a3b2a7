// Peer: onnxruntime-node (native CPU execution provider) on the network exported by
// bench/torch/export_onnx.py. A dev dependency only: loaded at run time, skipped with the reason
// when it is not installed. Threads: intra-op = the given count, inter-op 1, sequential execution.
import { Unavailable } from '../backends.js';
import type { Tensor } from '../../src/tensor.js';

export interface OnnxRunner {
  session: OrtSession;
  ort: OrtModule;
}

// The few members of onnxruntime-common's API used here (typed locally: the package is optional).
interface OrtTensor { data: Float32Array; dims: readonly number[] }
export interface OrtSession { run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>; release?(): Promise<void>; endProfiling?(): void }
export interface OrtModule {
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;
  InferenceSession: { create(model: string | Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
  env: { wasm: { numThreads?: number; simd?: boolean }; versions?: Record<string, string> };
}

export async function importPeer(pkg: string): Promise<OrtModule> {
  try {
    const m = (await import(pkg)) as OrtModule & { default?: OrtModule };
    return m.InferenceSession !== undefined ? m : m.default!;
  } catch (e) {
    throw new Unavailable(`${pkg} is not installed (a dev dependency: npm install --no-save ${pkg}): ${(e as Error).message.split('\n')[0]}`);
  }
}

/** `extra`: more session options (bench/peer-profile.ts: enableProfiling, profileFilePrefix). */
export async function openOnnxNode(model: string, threads: number, extra: Record<string, unknown> = {}): Promise<OnnxRunner> {
  const ort = await importPeer('onnxruntime-node');
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', ...extra,
  });
  return { session, ort };
}

export async function runOrt({ session, ort }: OnnxRunner, x: Tensor): Promise<{ loc: Tensor; conf: Tensor; landms: Tensor }> {
  const [c, h, w] = x.shape as [number, number, number];
  const out = await session.run({ input: new ort.Tensor('float32', x.data, [1, c, h, w]) });
  // (1, A, k) -> (A, k): the batch dimension dropped as everywhere in this project.
  const t = (name: string): Tensor => {
    const o = out[name];
    if (o === undefined) throw new Error(`ONNX model has no output ${name}`);
    return { shape: o.dims.slice(1) as number[], data: o.data };
  };
  return { loc: t('loc'), conf: t('conf'), landms: t('landms') };
}

export const runOnnxNode = runOrt;
