// The machine's peak: what every GFLOP/s figure is set against. Two small probes, each a loop of
// independent multiply-add chains (16 of them, more than the FMA latency x issue width, so the
// loop is bound by arithmetic throughput, not latency or memory):
// - scalar: a plain JS loop on numbers (V8 emits scalar mulsd/addsd), 2 FLOPs per chain step;
// - SIMD: a WebAssembly module generated here byte by byte, f32x4.mul + f32x4.add on v128
//   locals (wasm SIMD has no fused multiply-add outside relaxed-simd), 8 FLOPs per chain step.
// Both run on 1 thread and on every core at once (worker threads), best of a few tries.
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { ProbeResult } from './results.js';

const CHAINS = 16;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
const f32 = (v: number) => [...new Uint8Array(new Float32Array([v]).buffer)];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];

/** (module (func (export "run") (param i32) (result f32) ...)): `n` iterations of CHAINS v128 multiply-adds. */
export function simdProbeModule(): Uint8Array<ArrayBuffer> {
  const I = { localGet: 0x20, localSet: 0x21, f32Const: 0x43, i32Const: 0x41, i32Eqz: 0x45, i32Sub: 0x6b, block: 0x02, loop: 0x03, brIf: 0x0d, br: 0x0c, end: 0x0b, simd: 0xfd };
  const splat = [I.simd, ...uleb(0x13)], add = [I.simd, ...uleb(0xe4)], mul = [I.simd, ...uleb(0xe6)], lane0 = [I.simd, ...uleb(0x1f), 0];
  const a = CHAINS + 1, b = CHAINS + 2; // locals: 0 = n, 1..CHAINS accumulators, then a, b
  const code: number[] = [];
  code.push(I.f32Const, ...f32(0.999), ...splat, I.localSet, a);
  code.push(I.f32Const, ...f32(0.001), ...splat, I.localSet, b);
  for (let i = 1; i <= CHAINS; i++) code.push(I.f32Const, ...f32(1 + i / 64), ...splat, I.localSet, i);
  code.push(I.block, 0x40, I.loop, 0x40, I.localGet, 0, I.i32Eqz, I.brIf, 1);
  for (let i = 1; i <= CHAINS; i++) code.push(I.localGet, i, I.localGet, a, ...mul, I.localGet, b, ...add, I.localSet, i);
  code.push(I.localGet, 0, I.i32Const, 1, I.i32Sub, I.localSet, 0, I.br, 0, I.end, I.end);
  code.push(I.localGet, 1);
  for (let i = 2; i <= CHAINS; i++) code.push(I.localGet, i, ...add);
  code.push(...lane0, I.end);
  const body = [...vec([[...uleb(CHAINS + 2), 0x7b]]), ...code];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, 1, 0x7f, 1, 0x7d]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...uleb(3), ...new TextEncoder().encode('run'), 0x00, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}

/** FLOPs per loop iteration of each probe. */
export const SIMD_FLOPS_PER_ITER = CHAINS * 4 * 2;
export const SCALAR_FLOPS_PER_ITER = CHAINS * 2;

function scalarLoop(n: number): number {
  let c0 = 1.01, c1 = 1.02, c2 = 1.03, c3 = 1.04, c4 = 1.05, c5 = 1.06, c6 = 1.07, c7 = 1.08;
  let c8 = 1.09, c9 = 1.1, c10 = 1.11, c11 = 1.12, c12 = 1.13, c13 = 1.14, c14 = 1.15, c15 = 1.16;
  const m = 0.999, k = 0.001;
  for (let i = 0; i < n; i++) {
    c0 = c0 * m + k; c1 = c1 * m + k; c2 = c2 * m + k; c3 = c3 * m + k;
    c4 = c4 * m + k; c5 = c5 * m + k; c6 = c6 * m + k; c7 = c7 * m + k;
    c8 = c8 * m + k; c9 = c9 * m + k; c10 = c10 * m + k; c11 = c11 * m + k;
    c12 = c12 * m + k; c13 = c13 * m + k; c14 = c14 * m + k; c15 = c15 * m + k;
  }
  return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11 + c12 + c13 + c14 + c15;
}

/** GFLOP/s of one probe on this thread: iterations grown until a run takes >= ms, best of `tries`. */
export async function probeThread(kind: 'scalar' | 'simd', ms: number, tries = 3): Promise<number> {
  let run: (n: number) => number;
  if (kind === 'simd') {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(simdProbeModule()));
    run = instance.exports.run as (n: number) => number;
  } else run = scalarLoop;
  const perIter = kind === 'simd' ? SIMD_FLOPS_PER_ITER : SCALAR_FLOPS_PER_ITER;
  // Warm-up: V8 first runs wasm on its baseline compiler (Liftoff, locals spilled to the stack)
  // and swaps in the optimized code for later calls; short calls and a pause let that happen.
  for (let t0 = performance.now(); performance.now() - t0 < ms / 2;) run(1 << 10);
  await new Promise((r) => setTimeout(r, 20));
  let n = 1 << 14, best = 0;
  for (;;) {
    const t0 = performance.now();
    run(n);
    const dt = performance.now() - t0;
    if (dt >= ms / 4 || n > 2 ** 30) break;
    n *= 2;
  }
  for (let i = 0; i < tries; i++) {
    const t0 = performance.now();
    run(n);
    best = Math.max(best, (n * perIter) / ((performance.now() - t0) * 1e6));
  }
  return best;
}

async function allThreads(kind: 'scalar' | 'simd', ms: number, threads: number): Promise<number> {
  const url = new URL(import.meta.url);
  const rates = await Promise.all(Array.from({ length: threads }, () => new Promise<number>((resolve, reject) => {
    const w = new Worker(url, { workerData: { kind, ms } });
    w.once('message', (v: number) => { resolve(v); void w.terminate(); });
    w.once('error', reject);
  })));
  return rates.reduce((s, r) => s + r, 0);
}

export async function probeMachine(msPerProbe: number): Promise<ProbeResult> {
  const threads = availableParallelism();
  return {
    scalarGflops1t: await probeThread('scalar', msPerProbe),
    simdGflops1t: await probeThread('simd', msPerProbe),
    scalarGflopsAll: await allThreads('scalar', msPerProbe, threads),
    simdGflopsAll: await allThreads('simd', msPerProbe, threads),
    threads,
  };
}

if (!isMainThread && parentPort !== null && (workerData as { kind?: string })?.kind !== undefined) {
  const { kind, ms } = workerData as { kind: 'scalar' | 'simd'; ms: number };
  parentPort.postMessage(await probeThread(kind, ms));
}
