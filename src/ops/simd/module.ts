// The WebAssembly SIMD kernels of the 'cpu-simd' backend as one module, generated at run time by
// src/wasm/emitter.ts, all over one memory (byte offsets as arguments), weights with batch norm
// folded in, bias and LeakyReLU fused. Tested against the naive loops in test/simd.test.ts.
// One file per kernel, each with its shapes and its thread split:
//   gemm.ts         gemm, gemmBlocked, packB: the matrix product every dense convolution runs
//   dense.ts        im2col and a dense convolution's tiles (denseConvPart)
//   depthwise.ts    depthwise3x3s1, depthwise3x3s2 (rows [rowStart, rowEnd), planar or panel output)
//   strassen.ts     packStrassen, gemmStrassen: a 1x1 convolution by one level of Strassen (7 half-size GEMMs)
//   dwpw.ts         a depthwise-separable block fused: depthwise into gemm's panels, then gemm
//   winograd.ts     winoPadRows, winoInput2/4, winoOutput2/4: F(2x2, 3x3) and F(4x4, 3x3) around gemm(Blocked)
//   elementwise.ts  actCopy, addAct (add, cat), headPermute, nearest (F.interpolate)
//   max_pool2d.ts   maxPool2d3x3s2: nn.MaxPool2d(3, 2, 1), ResNet-50's stem
//   softmax.ts      softmaxPart: the class scores' softmax, plain JS over the memory (Math.exp), split by rows
//   common.ts       the exports (SimdExports), inline LeakyReLU and partial stores, share()
// The tasks the backend's threads run are listed once, in src/backends/simd_pool.ts (TASKS).
// Two builds of the same kernels (SimdBuild): every multiply-accumulate as f32x4.mul then
// f32x4.add (plain SIMD, every engine), or as relaxed SIMD's f32x4.relaxed_madd (`fma`: one
// instruction where the CPU fuses; Chrome >= 114, Node >= 22, Deno; Node 20 only behind V8's flag,
// which the backend's Node host sets: simd_host.node.ts). They round differently (the naive
// loops' float64 sums are the reference of both: see the tolerances in the test).
import { Code, ModuleBuilder, type MemoryImport } from '../../wasm/emitter.js';
import type { SimdExports } from './common.js';
import { emitIm2col } from './dense.js';
import { emitDepthwise } from './depthwise.js';
import { emitElementwise, emitHeadPermute, emitNearest } from './elementwise.js';
import { emitMaxPool2d3x3s2 } from './max_pool2d.js';
import { emitGemm, emitPackB } from './gemm.js';
import { emitGemmStrassen, emitPackStrassen } from './strassen.js';
import { emitWinoInput, emitWinoOutput, emitWinoPadRows } from './winograd.js';

export { SIMD_MEMORY, SIMD_WASM_FILES } from '../simd_files.js';

/** How the kernels are built: `fma` = multiply-adds by relaxed SIMD's relaxed_madd (default false: plain SIMD). */
export interface SimdBuild {
  fma?: boolean;
}

/** The kernel module's bytes, importing the given memory as ("env", "memory"). */
export function buildSimdModule(memory: MemoryImport, build: SimdBuild = {}): Uint8Array<ArrayBuffer> {
  const fma = build.fma === true;
  const m = new ModuleBuilder({ memory });
  m.addFunction('gemm', emitGemm(fma));
  m.addFunction('gemmBlocked', emitGemm(fma, 'byRuns'));
  m.addFunction('gemmResidual', emitGemm(fma, 'straight', true));
  m.addFunction('im2col', emitIm2col());
  m.addFunction('packB', emitPackB());
  m.addFunction('packStrassen', emitPackStrassen());
  for (let i = 0; i < 7; i++) m.addFunction(`gemmStrassenM${i + 1}`, emitGemmStrassen(fma, i));
  m.addFunction('actCopy', emitElementwise(false));
  m.addFunction('addAct', emitElementwise(true));
  m.addFunction('headPermute', emitHeadPermute());
  m.addFunction('nearest', emitNearest());
  m.addFunction('maxPool2d3x3s2', emitMaxPool2d3x3s2());
  m.addFunction('winoPadRows', emitWinoPadRows());
  for (const tile of [2, 4] as const) {
    m.addFunction(`winoInput${tile}`, emitWinoInput(tile));
    m.addFunction(`winoOutput${tile}`, emitWinoOutput(tile));
  }
  m.addFunction('depthwise3x3s1', emitDepthwise(1, fma));
  m.addFunction('depthwise3x3s2', emitDepthwise(2, fma));
  return m.toBytes();
}

/** Compiles the kernel module for a memory of this kind (async: browsers refuse big sync compiles). */
export function compileSimdModule(memory: MemoryImport, build: SimdBuild = {}): Promise<WebAssembly.Module> {
  return WebAssembly.compile(buildSimdModule(memory, build));
}

/** Whether this engine validates relaxed SIMD's f32x4.relaxed_madd (what the `fma` build needs). */
export function relaxedSimdSupported(): boolean {
  if (typeof WebAssembly === 'undefined') return false;
  const c = new Code(['v128', 'v128', 'v128'], ['v128']);
  c.localGet(0).localGet(1).localGet(2).f32x4RelaxedMadd();
  const m = new ModuleBuilder();
  m.addFunction('madd', c);
  return WebAssembly.validate(m.toBytes());
}

/** An instance over the given memory; every thread instantiates the same module over the same memory. */
export async function instantiateSimd(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<SimdExports> {
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return { ...(instance.exports as unknown as Omit<SimdExports, 'memory'>), memory };
}
