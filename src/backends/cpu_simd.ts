// The 'cpu-simd' backend: WebAssembly SIMD kernels generated at run time (src/ops/simd/*
// by src/wasm/emitter.ts), every activation inside one WebAssembly.Memory arena, work split over
// threads. At prepare(): batch norm folded into the convolutions, dense weights packed into
// 4-row panels (3x3 stride 1: Winograd-transformed first), all stored in the arena once. A Tensor handed out is a view into the arena
// (SimdTensor); release() returns its block, read() copies it out. Because a forward pass
// allocates and releases in the same order every frame, the arena grows on the first frame at a
// new input size and is reused from then on (nothing allocated per frame but small handles).
//
// Depthwise-separable blocks (MobileNet's conv_dw) run fused: convBnAct on a depthwise unit that
// lowering.ts pairs with a pointwise one returns a deferred tensor (nothing computed, its input
// kept alive), and convBnAct of that pointwise unit on it runs both as one task (ops/simd/dwpw.ts,
// bit-identical to the two kernels). A ResNet-50 Bottleneck's conv3 is deferred likewise, and the
// block's add on it runs the conv with the identity added to the GEMM's sums (gemm.ts
// gemmResidual). Any other use of a deferred tensor computes it first, so the network definition
// and every other caller see ordinary tensors (option fuse: false turns it off).
// Likewise the convolutions of one input (lowering.ts sharedInputGroups): each SSH's two pairs of
// dense 3x3 run as one Winograd over both units' channels (one pad and input transform, one
// GEMM), each level's three heads as one dense 1x1 over their 32 channels (one packing of the
// input). The first unit's call computes the group into one block and hands out each unit's
// channels as a view of it (the block is freed with its last view); the later units' views are
// kept for their calls on the same input, and on any other input they are computed alone.
// Bit-identical too (fuse: false turns both off).
//
// Threads: `threads` (default: the machine's parallelism) share the memory (shared
// WebAssembly.Memory); a convolution is cut into pieces of output pixels (dense), rows (a fused
// block, Winograd's tile rows; a small map's Winograd with large weights: input channels, then
// output channels, in two tasks) or channels (depthwise), which the threads claim as they come free
// (simd_pool.ts); add, cat (with its activation), the heads' permute, nearest upsampling and max
// pooling likewise; work too small to repay a dispatch (PARALLEL_MIN_MACS, PARALLEL_MIN_FLOATS)
// runs on the calling thread. The softmax is JS over an arena view (ops/simd/softmax.ts), split by
// rows likewise from SOFTMAX_PARALLEL_MIN_FLOATS.
// With threads = 1, or where memory cannot be shared, the memory is a plain one.
// A whole pass (pass(), Backend.pass) is recorded as the tasks it posted and the arena's journal,
// and replayed without walking the network when a later pass starts where it did (simd_replay.ts;
// option replay).
import { checkWinogradTile, type Backend } from '../backend.js';
import type { ConvBnAct, Module } from '../model/modules.js';
import type { Slope } from '../ops/activation.js';
import { conv2dMacs, conv2dOutputShape, convOutputSize } from '../ops/conv2d.js';
import { denseScratchBytes, isPointwise, type DenseConvArgs } from '../ops/simd/dense.js';
import { strassenApplies, strassenScratchBytes, strassenWeights } from '../ops/simd/strassen.js';
import { depthwisePlaneFloats, type DepthwiseArgs } from '../ops/simd/depthwise.js';
import { GEMM_MR, packDenseWeights, packedDenseFloats } from '../ops/simd/gemm.js';
import { compileSimdModule, instantiateSimd, relaxedSimdSupported, SIMD_MEMORY } from '../ops/simd/module.js';
import {
  winogradScratchBytes, winogradTwoTasks, winogradTwoTaskScratchBytes, winogradVFloats, winogradWeights, type WinogradArgs, type WinogradTile,
} from '../ops/simd/winograd.js';
import { nearestSourceIndex } from '../ops/interpolate_nearest.js';
import { formatShape, numel, shapeEquals, type Tensor } from '../tensor.js';
import { Arena } from '../wasm/arena.js';
import { depthwiseSeparablePairs, lowerModel, residualConvs, sharedInputGroups, type LoweredConv } from './lowering.js';
import { dwPwBandRows, dwPwScratchBytes, type DwPwArgs } from '../ops/simd/dwpw.js';
import type { SimdModules } from '../ops/simd_files.js';
import { RetinaFaceError } from '../errors.js';
import { maxPool2dNaive } from '../ops/max_pool2d.cpu.js';
import { TASKS, ThreadPool, type TaskRecord, type ThreadHost } from './simd_pool.js';
import { PassRecorder } from './simd_replay.js';

export interface CpuSimdOptions {
  /** Threads including the caller's; default: all cores (os.availableParallelism / hardwareConcurrency). */
  threads?: number;
  /**
   * Dense 3x3 stride-1 convolutions by Winograd (default true; the tile: winogradTile): F(2x2, 3x3)
   * takes 16 instead of 36 multiply-adds per 2x2 outputs, F(4x4, 3x3) 36 instead of 144 per 4x4;
   * error within ~2x of the direct sum's (test/simd.test.ts).
   */
  winograd?: boolean;
  /**
   * Winograd's output tile: 2 (F(2x2, 3x3)), 4 (F(4x4, 3x3): 36 multiply-adds per 16 outputs
   * instead of 64, more rounding, 2.25x the transformed weights) or, by default, 4 where the input
   * has at least WINOGRAD4_MIN_CHANNELS channels and 2 below (winogradTileFor). 2 keeps the arena
   * smaller: resnet50's Winograd weights 75 MB instead of 169.
   */
  winogradTile?: WinogradTile;
  /**
   * Convolutions of fewer multiply-adds run on the calling thread alone (default
   * PARALLEL_MIN_MACS); 0 splits every convolution over all threads (the tests of the split).
   */
  parallelMinMacs?: number;
  /**
   * The kernel module already compiled (e.g. imported from dist/wasm/retinaface-simd.wasm where
   * compiling from bytes is forbidden): `plain` for one thread, `shared` for worker threads.
   * Without the one needed, it is generated and compiled at prepare(); given only `plain`, the
   * backend runs on one thread.
   */
  modules?: SimdModules;
  /**
   * Depthwise-separable blocks as one fused task (default true): the depthwise output stays in
   * the thread's cache and the block is one dispatch instead of two; likewise SSH's convolutions
   * of one input, a level's three heads, and a ResNet-50 Bottleneck's conv3 with its residual add.
   * Results are bit-identical.
   */
  fuse?: boolean;
  /**
   * On several threads, a Winograd convolution of a small map with large weights as two tasks
   * (default true; ops/simd/winograd.ts winogradTwoTasks): the input transformed by channels,
   * then the GEMMs split by output channels, so that each weight streams from memory once instead
   * of once per piece. false: always one task cut by tile rows. Results are bit-identical.
   */
  twoTaskWinograd?: boolean;
  /**
   * Dense convolutions (1x1, and 3x3 where Winograd does not take them) of at least
   * STRASSEN_MIN_CHANNELS output channels and products per output by one level of Strassen's
   * algorithm (default true; ops/simd/strassen.ts): 7 half-size products instead of 8, an eighth
   * fewer multiply-adds (ResNet-50's layer2 to layer4, their strided 3x3s and downsamples, the FPN's
   * 1x1s; none of mobile0.25's run on their own), its weights 7/4 of theirs (resnet50's arena 297
   * MB after prepare instead of 251). It rounds otherwise than the direct GEMM, about as much
   * (bench/strassen.ts). false: every dense convolution as one GEMM.
   */
  strassen?: boolean;
  /**
   * Multiply-adds by relaxed SIMD's fused f32x4.relaxed_madd (default: where the engine has it;
   * on Node 20 the backend turns on V8's --experimental-wasm-relaxed-simd for it). false: plain
   * SIMD's multiply then add everywhere, the same bits on every machine (relaxed_madd is fused on
   * CPUs with FMA and not on others). Precompiled `modules` are plain SIMD builds: with them this
   * option is false. Results stay within the parity bounds either way (test/simd.test.ts).
   */
  fma?: boolean;
  /**
   * Forward passes recorded and replayed (default true; simd_replay.ts): a pass whose input lands
   * where a recorded pass's did, with the arena as it was then, posts the recorded tasks again
   * instead of walking the network. Results are bit-identical. false: every pass walks.
   */
  replay?: boolean;
}

export type { SimdModules } from '../ops/simd_files.js';

/** Memory-bound jobs below this many floats run on the calling thread: a dispatch costs more. */
const PARALLEL_MIN_FLOATS = 65536;

/**
 * Softmaxes of fewer floats run on the calling thread. An exp a row of two costs ~8 ns a float
 * (mobile0.25's 16800 x 2 at 640x640: 0.28 ms, bench/profile.ts's `conf` row), some 25x a copy's,
 * so the split pays from a sixteenth of PARALLEL_MIN_FLOATS.
 */
export const SOFTMAX_PARALLEL_MIN_FLOATS = 4096;

/**
 * Convolutions below this many multiply-adds (counted as the direct convolution's, Winograd's
 * included) run on the calling thread alone: splitting them gains less than the dispatch and
 * the pieces' smaller GEMM tiles. For mobile0.25 at 640x640 this keeps SSH2's and
 * SSH3's small 3x3 convolutions and most heads on the caller. Chosen by paired A/Bs
 * (docs/profile.md, "The ninth"): 4 MMAC against splitting every convolution 0.969, and once the
 * threads polled for work (dispatch ~2 us), 1 MMAC against 4 0.999, 16 against 4 1.093; with the
 * pieces ("The fourteenth"), 1 MMAC against 4 0.991.
 */
export const PARALLEL_MIN_MACS = 4_000_000;

/**
 * Winograd convolutions of at least this many input channels take F(4x4, 3x3) by default (with
 * gemmBlocked's sums by runs), the others F(2x2, 3x3). One convolution, one thread, F(4x4) / F(2x2)
 * (`REPS=15 node dist/bench/winograd-tiles.js`): 0.72 to 0.86 at 64 to 512 channels on 20x20 to
 * 160x160, except 1.04 at 64 -> 48 on 20x20 (0.01 ms); 0.98 at 16 -> 32 on 80x80. F(4x4) keeps 36
 * instead of 16 transformed values a 3x3 kernel: resnet50's Winograd weights 169 MB instead of 75.
 * docs/profile.md, "The seventeenth".
 */
export const WINOGRAD4_MIN_CHANNELS = 64;

/** The Winograd tile of a 3x3 stride-1 convolution of cIn input channels: the option's, else by WINOGRAD4_MIN_CHANNELS. */
export function winogradTileFor(cIn: number, option?: WinogradTile): WinogradTile {
  return option ?? (cIn >= WINOGRAD4_MIN_CHANNELS ? 4 : 2);
}

/**
 * A convolution not run yet: its input (kept alive) and what may consume it fused, a depthwise
 * unit's pointwise partner or, for a Bottleneck's conv3, 'add' (the residual add).
 */
interface Deferred {
  x: SimdTensor;
  unit: ConvBnAct;
  partner: ConvBnAct | 'add';
}

/**
 * An activation in the arena. `data` is a fresh view each time (the memory may have grown).
 * A deferred one (a depthwise output that its pointwise partner may consume fused) has no block
 * yet: `settle` computes it when anything else needs it.
 */
export class SimdTensor implements Tensor {
  released = false;
  /** Deferred tensors that read this one, or (a shared group's block) its live views: its block is returned to the arena only when they are done. */
  holds = 0;
  /** A view's block (a shared group's output): the view holds it, and frees it with the last view. */
  parent: SimdTensor | null = null;
  constructor(readonly shape: number[], public ptr: number, private readonly arena: Arena,
    public deferred: Deferred | null = null, private readonly settle: ((t: SimdTensor) => void) | null = null) {}
  get data(): Float32Array {
    if (this.deferred !== null) this.settle!(this);
    return this.arena.floats(this.ptr, numel(this.shape));
  }
}

/** The first unit of a shared-input pair (sharedInputGroups, SSH's): its partner and the pair's combined Winograd weights and bias, the first's channels first. */
interface SharedPair { partner: ConvBnAct; tile: WinogradTile; cOut1: number; cOut2: number; weights: number; zeros: number; bias: number }

/**
 * The first unit of a group of 1x1 convolutions of one input (sharedInputGroups, a level's heads):
 * every unit in call order with its output channels, and the group's packed weights and bias (each
 * unit's channels in turn, each a whole number of GEMM_MR panels).
 */
interface SharedDense { units: ConvBnAct[]; cOuts: number[]; cIn: number; weights: number; bias: number }

type Prepared =
  | { kind: 'winograd'; tile: WinogradTile; cIn: number; cOut: number; weights: number; zeros: number; bias: number }
  /** the first unit of a shared group: it only runs with the rest (SharedPair, SharedDense), its own weights are let go */
  | { kind: 'sharedFirst' }
  /** strassen: weights are strassen.ts's seven blocks (strassenWeights), the convolution runs by Strassen */
  | { kind: 'dense'; cIn: number; cOut: number; kSize: number; stride: number; pad: number; weights: number; bias: number; strassen?: true }
  | { kind: 'depthwise'; c: number; stride: number; weights: number; bias: number };

/**
 * The folded weights of convolutions of one input as one convolution's: each unit's output
 * channels in turn (OIHW), the bias likewise, padded to whole panels of GEMM_MR.
 */
function concatFolded(units: ConvBnAct[], lowered: Map<ConvBnAct, LoweredConv>): { weight: Float32Array; bias: Float32Array; cOut: number } {
  const folded = units.map((u) => lowered.get(u)!.folded());
  const cOut = units.reduce((n, u) => n + u.conv.out_channels, 0);
  const weight = new Float32Array(folded.reduce((n, f) => n + f.weight.length, 0));
  const bias = new Float32Array(Math.ceil(cOut / GEMM_MR) * GEMM_MR);
  let w = 0, b = 0;
  for (const f of folded) {
    weight.set(f.weight, w);
    bias.set(f.bias, b);
    w += f.weight.length;
    b += f.bias.length;
  }
  return { weight, bias, cOut };
}

async function defaultHost(): Promise<ThreadHost | null> {
  const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;
  if (isNode) return (await import('./simd_host.node.js')).nodeHost;
  if (typeof Worker === 'undefined') return null;
  return (await import('./simd_host.browser.js')).browserHost;
}

export class CpuSimdBackend implements Backend<Tensor> {
  readonly name = 'cpu-simd';
  private arena: Arena | null = null;
  private pool: ThreadPool | null = null;
  private prepared = new Map<ConvBnAct, Prepared>();
  /** depthwise unit -> its pointwise partner (lowering.ts), when fusing */
  private pairs = new Map<ConvBnAct, ConvBnAct>();
  /** un-activated 1x1 convolutions that the residual add consumes (lowering.ts residualConvs), when fusing */
  private residuals = new Set<ConvBnAct>();
  /**
   * first unit -> the pair run as one Winograd (sharedInputGroups): the combined weights and bias
   * of both units' output channels, the first's first
   */
  private shared = new Map<ConvBnAct, SharedPair>();
  /** first unit -> its group of 1x1 convolutions run as one (a level's heads) */
  private sharedDense = new Map<ConvBnAct, SharedDense>();
  /** a later unit of a shared group -> its output, computed with the first's, and the input it is for */
  private pendingShared = new Map<ConvBnAct, { x: SimdTensor; y: SimdTensor }>();
  /** nearestMap's blocks, by `${n}:${nOut}` */
  private nearestMaps = new Map<string, number>();
  /** passes recorded and replayed (pass()); null before prepare() or with replay: false */
  private recorder: PassRecorder | null = null;

  constructor(private readonly options: CpuSimdOptions = {}) {}

  /** Bytes of the arena's memory: constant from the second frame at a given input size on. */
  get memoryBytes(): number {
    return this.arena?.memory.buffer.byteLength ?? 0;
  }

  /** Whether the kernels multiply-add by relaxed SIMD's relaxed_madd (known after prepare(); option fma). */
  fma = false;

  /** The option winogradTile as given (undefined: by input channels, winogradTileFor). */
  get winogradTile(): WinogradTile | undefined {
    return this.options.winogradTile;
  }

  /** The option replay (default true). */
  get replay(): boolean {
    return this.options.replay !== false;
  }

  /** The option strassen (default true). */
  get strassen(): boolean {
    return this.options.strassen !== false;
  }

  /** How many of the prepared convolutions run by Strassen (0 before prepare(), or with strassen: false). */
  get strassenConvs(): number {
    let n = 0;
    for (const p of this.prepared.values()) if (p.kind === 'dense' && p.strassen === true) n++;
    return n;
  }

  /** Since prepare(): forward passes replayed (pass(), simd_replay.ts), and recordings kept for it. */
  get passes(): { replayed: number; kept: number } {
    return { replayed: this.recorder?.replayed ?? 0, kept: this.recorder?.recordings ?? 0 };
  }

  /** The arena's free list and top (Arena.state): a replayed pass leaves it as the walk does (test/replay.test.ts). */
  get arenaState(): string {
    return this.arena?.state() ?? '';
  }

  /** Threads in use (known after prepare()). */
  get threads(): number {
    return this.pool?.threads ?? 0;
  }

  /**
   * Starts recording every task of the thread pool: when each thread began and ended its share,
   * and when the caller saw them all done (simd_pool.ts TaskRecord; bench/profile.ts reads them).
   */
  startProfile(): void {
    if (this.pool === null) throw new Error('cpu-simd: call prepare() first');
    this.pool.startProfile();
  }

  /** The tasks run since startProfile(), in dispatch order; recording stops. */
  stopProfile(): TaskRecord[] {
    if (this.pool === null) throw new Error('cpu-simd: call prepare() first');
    return this.pool.stopProfile();
  }

  async prepare(model: Module): Promise<void> {
    this.dispose();
    checkWinogradTile(this.options.winogradTile);
    const host = await defaultHost();
    const wanted = this.options.threads ?? host?.defaultThreads() ?? 1;
    const given = this.options.modules;
    const shared = wanted > 1 && host !== null && typeof SharedArrayBuffer !== 'undefined' && (given === undefined || given.shared !== undefined);
    const limits = shared ? SIMD_MEMORY.shared : SIMD_MEMORY.plain;
    const memory = new WebAssembly.Memory(limits);
    const precompiled = given?.[shared ? 'shared' : 'plain'] as WebAssembly.Module | undefined;
    this.fma = precompiled === undefined && this.options.fma !== false && (host?.relaxedSimd?.() ?? relaxedSimdSupported());
    if (this.options.fma === true && !this.fma) {
      throw new RetinaFaceError(precompiled !== undefined ? 'invalid option fma: true needs the kernels compiled here, not precompiled modules'
        : 'invalid option fma: true needs relaxed SIMD (f32x4.relaxed_madd), which this engine does not validate (pass fma: false or leave it out)', { code: 'EOPTION' });
    }
    const module = precompiled ?? await compileSimdModule(limits, { fma: this.fma });
    const k = await instantiateSimd(module, memory);
    this.pool = await ThreadPool.start(k, module, memory, shared ? wanted : 1, shared ? host : null);
    this.arena = new Arena(memory);
    if (this.options.replay !== false) this.recorder = new PassRecorder(this.arena, this.pool);

    const lowered = new Map<ConvBnAct, LoweredConv>();
    // A fused block's pointwise half reads the plain panels (dwpw.ts): never Strassen's blocks.
    const dwPwPairs = this.options.fuse !== false ? [...depthwiseSeparablePairs(model)] : [];
    const fusedPointwise = new Set(dwPwPairs.map(([, pw]) => pw));
    for (const [unit, l] of lowerModel(model)) {
      lowered.set(unit, l);
      this.prepared.set(unit, this.pack(l, this.options.strassen !== false && !fusedPointwise.has(unit)));
    }
    if (this.options.fuse !== false) {
      for (const [first, rest] of sharedInputGroups(model)) {
        if (rest.length === 1 && this.shareWinograd(first, rest[0]!, lowered)) continue;
        this.shareDense([first, ...rest], lowered);
      }
      for (const [dw, pw] of dwPwPairs) {
        const p = this.prepared.get(pw);
        // The fused task's gemm reads the band as packB's panels: a 1x1 stride-1 unpadded conv.
        if (p?.kind === 'dense' && isPointwise(p.kSize, p.stride, p.pad)) this.pairs.set(dw, pw);
      }
      for (const unit of residualConvs(model)) {
        if (this.prepared.get(unit)?.kind === 'dense' && unit.slope === null) this.residuals.add(unit);
      }
    }
  }

  /** Two Winograd convolutions of one input (SSH's conv3X3 and conv5X5_1) as one; false if they are not such a pair. */
  private shareWinograd(first: ConvBnAct, second: ConvBnAct, lowered: Map<ConvBnAct, LoweredConv>): boolean {
    const p1 = this.prepared.get(first), p2 = this.prepared.get(second);
    // One GEMM over both units' channels: the second's rows start on a panel of GEMM_MR.
    if (p1?.kind !== 'winograd' || p2?.kind !== 'winograd' || p1.cIn !== p2.cIn || p1.cOut % GEMM_MR !== 0) return false;
    const { weight, bias, cOut } = concatFolded([first, second], lowered);
    this.shared.set(first, {
      partner: second, tile: p1.tile, cOut1: p1.cOut, cOut2: p2.cOut, weights: this.arena!.put(winogradWeights(weight, cOut, p1.cIn, p1.tile)),
      zeros: this.arena!.put(new Float32Array(bias.length)), bias: this.arena!.put(bias),
    });
    this.retireFirst(first, [p1.weights, p1.zeros, p1.bias]);
    return true;
  }

  /**
   * The first unit of a shared group always runs with the rest (convBnAct): its own packed weights
   * would only take arena space (resnet50: 2 MB an SSH), so they go back, and it is marked.
   */
  private retireFirst(first: ConvBnAct, blocks: number[]): void {
    for (const ptr of blocks) this.arena!.release(ptr);
    this.prepared.set(first, { kind: 'sharedFirst' });
  }

  /**
   * 1x1 convolutions of one input with one activation (a level's heads) as one dense 1x1 over all
   * their channels (each output channel's sum is the one it has alone: the GEMM sums every row on
   * its own), if every unit is such a conv with a whole number of GEMM_MR output channels: the
   * group's bias then needs no padding between units.
   */
  private shareDense(units: ConvBnAct[], lowered: Map<ConvBnAct, LoweredConv>): void {
    const ps = units.map((u) => this.prepared.get(u));
    const first = ps[0];
    if (first?.kind !== 'dense') return;
    const cOuts: number[] = [];
    for (const [i, p] of ps.entries()) {
      if (p?.kind !== 'dense' || !isPointwise(p.kSize, p.stride, p.pad) || p.cIn !== first.cIn || p.cOut % GEMM_MR !== 0) return;
      if (units[i]!.slope !== units[0]!.slope) return;
      cOuts.push(p.cOut);
    }
    const { weight, bias, cOut } = concatFolded(units, lowered);
    const packed = new Float32Array(packedDenseFloats(cOut, first.cIn));
    packDenseWeights(weight, cOut, packed);
    this.sharedDense.set(units[0]!, { units, cOuts, cIn: first.cIn, weights: this.arena!.put(packed), bias: this.arena!.put(bias) });
    this.retireFirst(units[0]!, [first.weights, first.bias]);
  }

  /** A unit's weights in the arena, as its kernel reads them; `strassen`: a dense convolution that strassenApplies to may take Strassen's seven blocks. */
  private pack(l: LoweredConv, strassen: boolean): Prepared {
    const { weight, bias: b } = l.folded();
    const { cIn, cOut } = l;
    if (l.kind === 'depthwise') return { kind: 'depthwise', c: cOut, stride: l.stride, weights: this.arena!.put(weight), bias: this.arena!.put(b) };
    const bias = new Float32Array(Math.ceil(cOut / GEMM_MR) * GEMM_MR);
    bias.set(b);
    if (l.kind === 'dense' && l.kernel === 3 && l.stride === 1 && l.padding === 1 && this.options.winograd !== false) {
      const tile = winogradTileFor(cIn, this.options.winogradTile);
      return {
        kind: 'winograd', tile, cIn, cOut, weights: this.arena!.put(winogradWeights(weight, cOut, cIn, tile)),
        zeros: this.arena!.put(new Float32Array(bias.length)), bias: this.arena!.put(bias),
      };
    }
    const dense = { kind: 'dense', cIn, cOut, kSize: l.kernel, stride: l.stride, pad: l.padding } as const;
    const k = weight.length / cOut;
    if (strassen && strassenApplies(k, cOut)) return { ...dense, weights: this.arena!.put(strassenWeights(weight, cOut, k)), bias: this.arena!.put(bias), strassen: true };
    const packed = new Float32Array(packedDenseFloats(cOut, k));
    packDenseWeights(weight, cOut, packed);
    return { ...dense, weights: this.arena!.put(packed), bias: this.arena!.put(bias) };
  }

  private alloc(shape: number[]): SimdTensor {
    const arena = this.arena;
    if (arena === null) throw new Error('cpu-simd: call prepare() first');
    return new SimdTensor(shape, arena.alloc(numel(shape)), arena);
  }

  /** A live tensor of this backend, computed (a deferred one is settled here). */
  private handle(x: Tensor): SimdTensor {
    const h = this.live(x);
    if (h.deferred !== null) this.settle(h);
    return h;
  }

  private live(x: Tensor): SimdTensor {
    if (!(x instanceof SimdTensor) || x.released) throw new Error(`cpu-simd: ${formatShape(x.shape)} is not a live tensor of this backend`);
    return x;
  }

  /** Runs a deferred depthwise convolution into a block of its own (its partner will not fuse it). */
  private settle(t: SimdTensor): void {
    const d = t.deferred!;
    t.deferred = null;
    t.ptr = this.arena!.alloc(numel(t.shape));
    this.runConv(d.x, d.unit, t);
    this.unhold(d.x);
  }

  private unhold(x: SimdTensor): void {
    x.holds--;
    if (x.holds === 0 && x.released) this.free(x);
  }

  /** Returns a released tensor's block to the arena; a view lets go of its parent's block instead. */
  private free(x: SimdTensor): void {
    if (x.parent !== null) this.unhold(x.parent);
    else this.arena!.release(x.ptr);
  }

  upload(x: Tensor): Tensor {
    const { data, handle } = this.inputView(x.shape);
    data.set(x.data);
    return handle;
  }
  /** The input's block of the arena, as a view to write into: no JS-side copy of it exists (see Backend.inputView). */
  inputView(shape: readonly number[]): { data: Float32Array; handle: Tensor } {
    const y = this.alloc([...shape]);
    return { data: y.data, handle: y };
  }
  async read(x: Tensor): Promise<Tensor> {
    return { shape: [...x.shape], data: this.handle(x).data.slice() };
  }
  async readInto(x: Tensor, dst: Float32Array): Promise<void> {
    const data = this.handle(x).data;
    if (dst.length !== data.length) throw new Error(`cpu-simd: readInto ${formatShape(x.shape)} needs ${data.length} floats, got ${dst.length}`);
    dst.set(data);
  }
  shape(x: Tensor): readonly number[] {
    return x.shape;
  }
  release(x: Tensor): void {
    const h = this.live(x);
    h.released = true;
    if (h.deferred !== null) {
      const d = h.deferred;
      h.deferred = null;
      this.unhold(d.x);
    } else if (h.holds === 0) this.free(h);
  }

  /**
   * A whole pass on x (Backend.pass): a recorded one replayed when x, a block of its own, and the
   * arena are where it started and no shared group's output is pending; else `walk`, recorded
   * (simd_replay.ts). The pass owns x either way.
   */
  pass(model: Module, x: Tensor, walk: () => [Tensor, Tensor, Tensor]): [Tensor, Tensor, Tensor] {
    const recorder = this.recorder;
    if (recorder === null) return walk();
    const xh = this.live(x);
    const key = recorder.key(xh);
    const plain = xh.parent === null && xh.holds === 0 && xh.deferred === null && this.pendingShared.size === 0;
    const r = plain ? recorder.match(model, key) : null;
    if (r === null) {
      const [loc, conf, landms] = recorder.record(model, key, xh, () => walk().map((y) => this.live(y)),
        (outs) => xh.released && xh.holds === 0 && this.pendingShared.size === 0 && outs.every((y) => y.parent === null && y.deferred === null));
      return [loc!, conf!, landms!];
    }
    xh.released = true; // its block goes back to the arena with the journal, as the walk frees it
    const [loc, conf, landms] = recorder.replay(key, r).map((o) => new SimdTensor([...o.shape], o.ptr, this.arena!));
    return [loc!, conf!, landms!];
  }

  convBnAct(x: Tensor, unit: ConvBnAct): Tensor {
    const p = this.prepared.get(unit);
    if (p === undefined) throw new Error(`${this.name}: ${unit.path} was not prepared (call prepare() with the model)`);
    const { conv } = unit;
    const xh = this.live(x);
    const [, hOut, wOut] = conv2dOutputShape(x.shape, conv.weight.shape, { stride: conv.stride, padding: conv.padding, groups: conv.groups });
    const shared = this.shared.get(unit);
    if (shared !== undefined) {
      if (xh.deferred !== null) this.settle(xh);
      return this.winogradShared(xh, unit, shared);
    }
    const group = this.sharedDense.get(unit);
    if (group !== undefined) {
      if (xh.deferred !== null) this.settle(xh);
      return this.denseShared(xh, group);
    }
    const pending = this.takePending(unit);
    if (pending !== undefined) {
      if (pending.x === xh && !xh.released) return pending.y;
      this.release(pending.y); // computed for another input: not this call's
    }
    const partner = this.pairs.get(unit);
    if (partner !== undefined && xh.deferred === null) {
      xh.holds++;
      return new SimdTensor([conv.out_channels, hOut, wOut], -1, this.arena!, { x: xh, unit, partner }, (t) => this.settle(t));
    }
    if (xh.deferred !== null && xh.deferred.partner === unit) return this.dwPw(xh, unit);
    if (xh.deferred !== null) this.settle(xh);
    if (this.residuals.has(unit)) {
      xh.holds++;
      return new SimdTensor([conv.out_channels, hOut, wOut], -1, this.arena!, { x: xh, unit, partner: 'add' }, (t) => this.settle(t));
    }
    const y = this.alloc([conv.out_channels, hOut, wOut]);
    this.runConv(xh, unit, y);
    return y;
  }

  /** A deferred depthwise output d consumed by its pointwise partner: both as one task (dwpw.ts). */
  private dwPw(d: SimdTensor, pw: ConvBnAct): Tensor {
    const { x, unit: dw } = d.deferred!;
    const pd = this.prepared.get(dw)!, pp = this.prepared.get(pw)!;
    if (pd.kind !== 'depthwise' || pp.kind !== 'dense') throw new Error(`${this.name}: ${dw.path} and ${pw.path} are not a depthwise-separable pair`);
    const [c, hOut, wOut] = d.shape as [number, number, number];
    const [, h, w] = x.shape as [number, number, number];
    const y = this.alloc([pp.cOut, hOut, wOut]);
    const arena = this.arena!, pool = this.pool!;
    const scratchBytes = dwPwScratchBytes(c, w, wOut);
    const scratch = arena.alloc((scratchBytes * pool.threads) / 4);
    const args: DwPwArgs = {
      x: x.ptr, c, h, w, stride: pd.stride, hOut, wOut,
      dwWeights: pd.weights, dwBias: pd.bias, dwSlope: dw.slope ?? 0, dwHasSlope: dw.slope === null ? 0 : 1,
      pwWeights: pp.weights, pwBias: pp.bias, cOut: pp.cOut, y: y.ptr, slope: pw.slope ?? 0, hasSlope: pw.slope === null ? 0 : 1,
      bandRows: dwPwBandRows(c, wOut), scratch, scratchBytes,
    };
    pool.run(TASKS.dwPw, args, this.splits(conv2dMacs(d.shape, dw.conv.weight.shape) + conv2dMacs(y.shape, pw.conv.weight.shape)));
    arena.release(scratch);
    return y;
  }

  /**
   * A deferred Bottleneck conv3 d and the residual add on it: y = act(conv(x) + r) as one dense
   * task, r added to the GEMM's sums before the activation (gemmResidual). Bit-identical to the
   * conv's output stored, then addAct: the same two roundings, and a + b is b + a.
   */
  private convAdd(d: SimdTensor, r: SimdTensor, slope: Slope): Tensor {
    const { x, unit } = d.deferred!;
    const p = this.prepared.get(unit)!;
    if (p.kind !== 'dense') throw new Error(`${this.name}: ${unit.path} is not a dense convolution`);
    const res = this.handle(r); // computed (settled if deferred) before y is taken
    const y = this.alloc([...d.shape]);
    this.runDense(x, y, p, slope, res.ptr);
    return y;
  }

  /** A later unit's output kept by its group's first call, taken out (undefined if none). */
  private takePending(unit: ConvBnAct): { x: SimdTensor; y: SimdTensor } | undefined {
    const pending = this.pendingShared.get(unit);
    this.pendingShared.delete(unit);
    return pending;
  }

  /** Releases a later unit's kept output that its call never took (a new first call makes it stale). */
  private dropPending(unit: ConvBnAct): void {
    const stale = this.takePending(unit);
    if (stale !== undefined) this.release(stale.y);
  }

  /**
   * The first unit of a shared-input pair on x, with the second's output computed alongside (one
   * Winograd pad and input transform, one GEMM over both units' channels; each output channel's
   * sum in the same order as alone, so the outputs are the unshared ones bit for bit): viewsOf.
   */
  private winogradShared(xh: SimdTensor, first: ConvBnAct, s: SharedPair): Tensor {
    this.dropPending(s.partner);
    const [, h, w] = xh.shape as [number, number, number];
    const block = this.alloc([s.cOut1 + s.cOut2, h, w]);
    const { slope } = first, slope2 = s.partner.slope;
    this.runWinograd(xh, {
      cOut: s.cOut1 + s.cOut2, y: block.ptr, tile: s.tile, weights: s.weights, zeros: s.zeros, bias: s.bias,
      slope: slope ?? 0, hasSlope: slope === null ? 0 : 1,
      cOut1: s.cOut1, y2: block.ptr + 4 * s.cOut1 * h * w, bias2: s.bias + 4 * s.cOut1, slope2: slope2 ?? 0, hasSlope2: slope2 === null ? 0 : 1,
    });
    return this.viewsOf(block, xh, [first, s.partner], [s.cOut1, s.cOut2]);
  }

  /**
   * A shared group's outputs, each unit's channels of one block in turn, as views of it (the block
   * is never handed out itself and goes back to the arena with its last view). The later units'
   * views are kept for their calls on x; the first unit's is returned.
   */
  private viewsOf(block: SimdTensor, xh: SimdTensor, units: ConvBnAct[], cOuts: number[]): SimdTensor {
    const [, h, w] = block.shape as [number, number, number];
    block.released = true;
    block.holds = units.length;
    let at = 0;
    const views = units.map((u, i) => {
      const v = new SimdTensor([cOuts[i]!, h, w], block.ptr + 4 * at * h * w, this.arena!);
      v.parent = block;
      at += cOuts[i]!;
      if (i > 0) this.pendingShared.set(u, { x: xh, y: v });
      return v;
    });
    return views[0]!;
  }

  /**
   * The first unit of a group of 1x1 convolutions on x (a level's heads), with the others' outputs
   * computed alongside: one dense task over all their channels into one block, handed out as one
   * view per unit (each output channel's sum in the same order as alone: the unshared outputs bit
   * for bit). The later units' views are kept for their calls on the same x.
   */
  private denseShared(xh: SimdTensor, g: SharedDense): Tensor {
    for (const u of g.units.slice(1)) this.dropPending(u);
    const [, h, w] = xh.shape as [number, number, number];
    const cOut = g.cOuts.reduce((a, b) => a + b, 0);
    const block = this.alloc([cOut, h, w]);
    this.runDense(xh, block, { cIn: g.cIn, cOut, kSize: 1, stride: 1, pad: 0, weights: g.weights, bias: g.bias }, g.units[0]!.slope);
    return this.viewsOf(block, xh, g.units, g.cOuts);
  }

  /** A Winograd convolution of x (one task: each chunk of tile rows padded, transformed, multiplied; winograd.ts) with its scratch; `a` says where its channels go. */
  private runWinograd(xh: SimdTensor, a: Omit<WinogradArgs, 'x' | 'cIn' | 'h' | 'w' | 'scratch' | 'scratchBytes'>): void {
    const [cIn, h, w] = xh.shape as [number, number, number];
    const arena = this.arena!, pool = this.pool!;
    const parallel = this.splits(conv2dMacs([a.cOut, h, w], [a.cOut, cIn, 3, 3]));
    if (parallel && this.options.twoTaskWinograd !== false && winogradTwoTasks(cIn, a.cOut, h, w, a.tile, pool.pieces, pool.threads)) {
      // Small maps: the whole input transformed first, then output channels split (winograd.ts, winogradTwoTasks).
      const scratchBytes = winogradTwoTaskScratchBytes(a.cOut, h, w, a.tile);
      const scratch = arena.alloc((scratchBytes * pool.threads) / 4);
      const v = arena.alloc(winogradVFloats(cIn, h, w, a.tile));
      const args = { ...a, x: xh.ptr, cIn, h, w, scratch, scratchBytes, v };
      pool.run(TASKS.winogradInput, args);
      pool.run(TASKS.winogradGemm, args);
      arena.release(v);
      arena.release(scratch);
      return;
    }
    const scratchBytes = winogradScratchBytes(cIn, a.cOut, h, w, a.tile);
    const scratch = arena.alloc((scratchBytes * pool.threads) / 4);
    pool.run(TASKS.winograd, { ...a, x: xh.ptr, cIn, h, w, scratch, scratchBytes }, parallel);
    arena.release(scratch);
  }

  /** Whether a convolution of `macs` multiply-adds is worth a dispatch to every thread. */
  private splits(macs: number): boolean {
    return macs >= (this.options.parallelMinMacs ?? PARALLEL_MIN_MACS);
  }

  /** A dense convolution of x (im2col or packed 1x1, then GEMM tiles: one task) into y's block, with its scratch. */
  private runDense(xh: SimdTensor, y: SimdTensor, p: Omit<Extract<Prepared, { kind: 'dense' }>, 'kind'>, slope: Slope, res = 0): void {
    const [, hOut, wOut] = y.shape as [number, number, number];
    const [, h, w] = xh.shape as [number, number, number];
    const arena = this.arena!, pool = this.pool!;
    const scratchBytes = p.strassen === true ? strassenScratchBytes(p.cIn, p.kSize, p.stride, p.pad) : denseScratchBytes(p.cIn, p.kSize, p.stride);
    const scratch = arena.alloc((scratchBytes * pool.threads) / 4);
    const args: DenseConvArgs = {
      x: xh.ptr, cIn: p.cIn, h, w, kSize: p.kSize, stride: p.stride, pad: p.pad, hOut, wOut,
      weights: p.weights, bias: p.bias, cOut: p.cOut, y: y.ptr, slope: slope ?? 0, hasSlope: slope === null ? 0 : 1, res, scratch, scratchBytes,
    };
    pool.run(p.strassen === true ? TASKS.strassen : TASKS.dense, args, this.splits(conv2dMacs(y.shape, [p.cOut, p.cIn, p.kSize, p.kSize])));
    arena.release(scratch);
  }

  /** One convolution of x (computed) into y's block. */
  private runConv(xh: SimdTensor, unit: ConvBnAct, y: SimdTensor): void {
    const p = this.prepared.get(unit)!;
    if (p.kind === 'sharedFirst') throw new Error(`${this.name}: ${unit.path} runs only with the rest of its shared-input group`);
    const { slope } = unit;
    const [, hOut, wOut] = y.shape as [number, number, number];
    const [, h, w] = xh.shape as [number, number, number];
    const arena = this.arena!, pool = this.pool!;
    const act = { slope: slope ?? 0, hasSlope: slope === null ? 0 : 1 };
    if (p.kind === 'winograd') {
      this.runWinograd(xh, {
        cOut: p.cOut, y: y.ptr, tile: p.tile, weights: p.weights, zeros: p.zeros, bias: p.bias, ...act, cOut1: 0, y2: 0, bias2: 0, slope2: 0, hasSlope2: 0,
      });
    } else if (p.kind === 'dense') {
      this.runDense(xh, y, p, slope);
    } else {
      const scratchBytes = depthwisePlaneFloats(w) * 4;
      const scratch = arena.alloc((scratchBytes * pool.threads) / 4);
      const args: DepthwiseArgs = {
        x: xh.ptr, c: p.c, h, w, stride: p.stride, hOut, wOut, weights: p.weights, bias: p.bias, y: y.ptr, ...act, scratch, scratchBytes,
      };
      pool.run(TASKS.depthwise, args, this.splits(conv2dMacs(y.shape, unit.conv.weight.shape)));
      arena.release(scratch);
    }
  }

  add(a: Tensor, b: Tensor, slope: Slope): Tensor {
    if (!shapeEquals(a.shape, b.shape)) throw new Error(`add: ${formatShape(a.shape)} != ${formatShape(b.shape)}`);
    const ah = this.live(a), bh = this.live(b);
    const conv = ah.deferred?.partner === 'add' ? ah : bh.deferred?.partner === 'add' ? bh : null;
    if (conv !== null && ah !== bh) return this.convAdd(conv, conv === ah ? bh : ah, slope);
    const y = this.alloc([...a.shape]);
    const n = numel(a.shape);
    this.pool!.run(TASKS.elementwise, {
      a: this.handle(a).ptr, b: this.handle(b).ptr, y: y.ptr, n, slope: slope ?? 0, hasSlope: slope === null ? 0 : 1,
    }, n >= PARALLEL_MIN_FLOATS);
    return y;
  }

  /** The int32 source index of each output row or column (n -> nOut), in the arena, made once per pair. */
  private nearestMap(n: number, nOut: number): number {
    const key = `${n}:${nOut}`;
    let p = this.nearestMaps.get(key);
    if (p === undefined) {
      p = this.arena!.alloc(nOut);
      new Int32Array(this.arena!.f32().buffer, p, nOut).set(Int32Array.from({ length: nOut }, (_, o) => nearestSourceIndex(o, n, nOut)));
      this.nearestMaps.set(key, p);
    }
    return p;
  }

  interpolateNearest(x: Tensor, hOut: number, wOut: number): Tensor {
    const [c, h, w] = x.shape as [number, number, number];
    const xh = this.handle(x);
    const rows = this.nearestMap(h, hOut), cols = this.nearestMap(w, wOut);
    const y = this.alloc([c, hOut, wOut]);
    this.pool!.run(TASKS.nearest, { x: xh.ptr, c, h, w, y: y.ptr, hOut, wOut, rows, cols }, c * hOut * wOut >= PARALLEL_MIN_FLOATS);
    return y;
  }

  cat(xs: Tensor[], slope: Slope): Tensor {
    const rest = xs[0]!.shape.slice(1);
    let lead = 0;
    for (const x of xs) {
      if (!shapeEquals(x.shape.slice(1), rest)) throw new Error(`cat: ${formatShape(x.shape)} does not match (*, ${rest.join(', ')})`);
      lead += x.shape[0]!;
    }
    const y = this.alloc([lead, ...rest]);
    let offset = 0;
    for (const x of xs) {
      const n = numel(x.shape);
      this.pool!.run(TASKS.elementwise, {
        a: this.handle(x).ptr, b: 0, y: y.ptr + 4 * offset, n, slope: slope ?? 0, hasSlope: slope === null ? 0 : 1,
      }, n >= PARALLEL_MIN_FLOATS);
      offset += n;
    }
    return y;
  }

  maxPool2d(x: Tensor, kernel: number, stride: number, padding: number): Tensor {
    const [c, h, w] = x.shape as [number, number, number];
    const hOut = convOutputSize(h, kernel, stride, padding), wOut = convOutputSize(w, kernel, stride, padding);
    const y = this.alloc([c, hOut, wOut]);
    if (kernel === 3 && stride === 2 && padding === 1) { // ResNet-50's stem: the SIMD kernel
      this.pool!.run(TASKS.maxPool2d, { x: this.handle(x).ptr, c, h, w, y: y.ptr, hOut, wOut }, c * hOut * wOut >= PARALLEL_MIN_FLOATS);
    } else { // no model here has another: the reference loops
      y.data.set(maxPool2dNaive(this.handle(x), kernel, stride, padding).data);
    }
    return y;
  }

  headPermute(x: Tensor, k: number): Tensor {
    const [c, h, w] = x.shape as [number, number, number];
    if (c % k !== 0) throw new Error(`head permute: ${c} channels are not a multiple of ${k}`);
    const y = this.alloc([(h * w * c) / k, k]);
    this.pool!.run(TASKS.headPermute, { x: this.handle(x).ptr, y: y.ptr, c, hw: h * w }, c * h * w >= PARALLEL_MIN_FLOATS);
    return y;
  }

  catRows(xs: Tensor[]): Tensor {
    return this.cat(xs, null);
  }

  softmax(x: Tensor): Tensor {
    const k = x.shape[x.shape.length - 1]!;
    const xh = this.handle(x);
    const y = this.alloc([...x.shape]);
    const n = numel(x.shape);
    this.pool!.run(TASKS.softmax, { x: xh.ptr, y: y.ptr, rows: n / k, k }, n >= SOFTMAX_PARALLEL_MIN_FLOATS);
    return y;
  }

  dispose(): void {
    this.pool?.dispose();
    this.pool = null;
    this.recorder = null;
    this.arena = null;
    this.prepared.clear();
    this.pairs.clear();
    this.shared.clear();
    this.sharedDense.clear();
    this.pendingShared.clear();
    this.nearestMaps.clear();
  }
}
