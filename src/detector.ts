// The detector: an image in, faces out (box, score, five landmarks, original-image pixels).
// Pure (no Node built-ins) so that the browser build can use it; src/index.ts adds what Node
// has (paths, Buffers, weights that resolve themselves).
import { BACKEND_SPECS, checkWinogradTile, DEFAULT_BACKEND, type BackendOptions, type BackendSpec } from './backend.js';
import { createBackend } from './backends/index.js';
import type { Backend } from './backend.js';
import { proposals, resolveDetectOptions, suppress, type DetectOptions, type Face, type Proposals } from './detect/postprocess.js';
import { mergeProposals, poolProposals, toOriginal } from './detect/merge.js';
import { isSingleRun, mirrorImage, resolveMultiScale, scaledSize, scaleImage, type MultiScaleOptions } from './detect/multiscale.js';
import { BoxDownscale, coarseFactor, keepCore, largerThan, maxWholeFace, memoryBands, resolveTileOptions, streamBands, tileGrid, type Bands, type TileGrid, type TileOptions } from './detect/tiles.js';
import type { RowSource } from './image/jpeg_rows.js';
import { decodeImage, resolveMaxPixels, type DecodeOptions } from './image/decode.js';
import { domSourceKind, readDomSource, type DomImageSource } from './image/dom_source.js';
import { rgbImage, type RgbImage } from './image/image.js';
import { cropToNetworkInputInto, rescaleSize, resizeForRescale, toNetworkInputInto } from './image/preprocess.js';
import { RetinaFaceError } from './errors.js';
import { alignFace, alignTemplate, type AlignedFace, type AlignOptions } from './align/align.js';
import { ARCHS, isArch, type Arch } from './model/config.js';
import { buildRetinaFace, type RetinaFace as RetinaFaceModel } from './model/retinaface.js';
import { keptOutputArrays, runNetwork, runUploaded, uploadInput, type NetworkOutput, type OutputArrays } from './model/run.js';
import type { TapSelection } from './model/forward.js';
import type { Tensor } from './tensor.js';

/** Decoded pixels: RGB (3 bytes per pixel) or RGBA (4, e.g. a canvas ImageData; alpha ignored). */
export interface Pixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

/**
 * An encoded JPEG or PNG file's bytes, decoded pixels (an ImageData is), or in a browser an
 * HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, ImageBitmap, HTMLVideoElement or
 * VideoFrame (read through one reused canvas: src/image/dom_source.ts).
 */
export type ImageInput = Uint8Array | ArrayBuffer | Pixels | DomImageSource;

export interface DetectCallOptions extends Partial<Omit<DetectOptions, 'scale'>>, Partial<MultiScaleOptions>, DecodeOptions, TileOptions {
  /** Downscale the image by this factor (>= 1) before the network, as ailia's --rescale; faces stay in original pixels. */
  rescale?: number;
  /**
   * Clip boxes and landmarks to the image, [0, width] x [0, height] (default false: the reference
   * neither clips nor rounds, so a face cut by the border may reach past it).
   */
  clip?: boolean;
  /** Called after each tile of a tiled run (maxNetworkPixels) with the tiles done and the tiles of that run. */
  onTile?: (done: number, total: number) => void;
}

/** detectDetailed()'s and detectRows()' options: detect()'s, and whether the result carries the raw outputs. */
export interface DetailedCallOptions extends DetectCallOptions {
  /**
   * false: the result has no `raw` (a DetectionSummary), and the network's outputs are read into
   * the arrays detect() reuses instead of fresh ones (6 MB a call at 2048x1150 on cpu-simd).
   * Default true.
   */
  raw?: boolean;
}

export interface StageTimings {
  decode: number;
  preprocess: number;
  forward: number;
  postprocess: number;
  total: number;
}

export interface Detection {
  /** The visible faces: the candidates with score >= visThreshold (default 0.6), best first. */
  faces: Face[];
  /**
   * Every face the reference post-processing keeps (score > confidenceThreshold 0.02, NMS 0.4,
   * at most keepTopK 750), best first: what detect.py returns before its --vis_thres drawing
   * filter. `faces` is its prefix at score >= visThreshold.
   */
  candidates: Face[];
  /** the original image size */
  width: number;
  height: number;
  /** the network input size (smaller than the image under rescale) */
  inputWidth: number;
  inputHeight: number;
  /** milliseconds per stage (forward: all runs together) */
  timings: StageTimings;
  /** the network's raw outputs (loc, conf, landms); of the first run when there are several (its first tile when tiled) */
  raw: NetworkOutput;
  /** one entry per network run: one, or one per scale and flip (options scales, flip) */
  runs: NetworkRun[];
}

/** A Detection without the network's raw outputs: detectDetailed(image, { raw: false }), and what a worker detector hands back. */
export type DetectionSummary = Omit<Detection, 'raw'>;

export interface NetworkRun {
  scale: number;
  flip: boolean;
  /** the network input size of this run */
  inputWidth: number;
  inputHeight: number;
  /** milliseconds of this run's forward pass */
  forward: number;
  /** the candidates this run put into the merge (score above confidenceThreshold, at most topK; of a tiled run, each tile's in its core) */
  proposals: number;
  /** the tiles it ran on (maxNetworkPixels): 1 when the image fitted, else their count and size */
  tiles: number;
  tileWidth: number;
  tileHeight: number;
  /** the coarse run beside a tiled one: the tiled image box-averaged to fit, keeping only the faces larger than a tile keeps */
  coarse?: true;
}

export interface DetectorOptions {
  arch: Arch;
  /** default 'auto': cpu-simd where WebAssembly SIMD runs, else cpu */
  backend?: BackendSpec;
  /** worker threads of the 'cpu-simd' backend (default: all cores) */
  threads?: number;
  /** cpu-simd's kernel module precompiled (see BackendOptions.simdModules) */
  simdModules?: BackendOptions['simdModules'];
  /** cpu-simd's fused multiply-add (see BackendOptions.fma; default: where the engine has it) */
  fma?: boolean;
  /** cpu-simd's Winograd tile, 2 or 4 (see BackendOptions.winogradTile; default: by input channels) */
  winogradTile?: 2 | 4;
  /** cpu-simd's Strassen for the large dense convolutions (see BackendOptions.strassen; default true) */
  strassen?: boolean;
}

const now = () => globalThis.performance.now();

/** The `raw` option checked: true (the default) or false. */
function wantsRaw(raw: unknown): boolean {
  if (raw === undefined || raw === true) return true;
  if (raw === false) return false;
  throw new RetinaFaceError(`invalid option raw: ${String(raw)} (expected true or false)`, { code: 'EOPTION' });
}

/** The detection as asked: whole, or without its raw outputs (which then live in reused arrays). */
function withoutRaw(d: Detection, keep: boolean): Detection | DetectionSummary {
  if (keep) return d;
  const { raw: _, ...summary } = d;
  return summary;
}

/** Milliseconds per stage, gathered over a call's runs. */
type StageTime = Omit<StageTimings, 'total'>;

/** What every run of one detect() call shares: its options, and the clock. */
interface RunContext {
  options: DetectOptions;
  tiling: { maxNetworkPixels: number | undefined; overlap: number };
  clip: boolean;
  onTile: ((done: number, total: number) => void) | undefined;
  t0: number;
  decode: number;
  /** where the runs read the network's outputs: arrays the detector reuses (detect(), which hands out no raw outputs), or undefined: fresh ones */
  into: OutputArrays | undefined;
}

function toRgb(p: Pixels, what: string): RgbImage {
  const { width, height, data } = p;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RetinaFaceError(`${what}: width and height must be positive integers, got ${width}x${height}`, { code: 'EIMAGE' });
  }
  const channels = data.length / (width * height);
  if (channels === 3) return rgbImage(width, height, data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length));
  if (channels !== 4) {
    throw new RetinaFaceError(`${what}: ${data.length} bytes is neither RGB nor RGBA for ${width}x${height}`, { code: 'EIMAGE' });
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = data[j]!;
    rgb[i + 1] = data[j + 1]!;
    rgb[i + 2] = data[j + 2]!;
  }
  return rgbImage(width, height, rgb);
}

/**
 * The faces drawn and reported: score >= visThreshold, compared in float32 as detect.py's
 * `b[4] < args.vis_thres` on float32 scores (the threshold rounded to float32, as NumPy does).
 */
export function visibleFaces(candidates: readonly Face[], visThreshold: number): Face[] {
  const t = Math.fround(visThreshold);
  return candidates.filter((f) => f.score >= t);
}

/** A face with its box and landmarks clipped to [0, width] x [0, height]. */
export function clipFace(f: Face, width: number, height: number): Face {
  const cx = (x: number) => Math.min(Math.max(x, 0), width);
  const cy = (y: number) => Math.min(Math.max(y, 0), height);
  return {
    score: f.score,
    box: [cx(f.box[0]), cy(f.box[1]), cx(f.box[2]), cy(f.box[3])],
    landmarks: f.landmarks.map(([x, y]) => [cx(x), cy(y)]) as Face['landmarks'],
  };
}

/** The most cpu-simd threads asked for: more only costs memory (a worker and its stack each). */
export const MAX_THREADS = 256;

/**
 * Checks what a detector is built from, as the CLI checks its flags: a wrong arch, backend or
 * thread count is one RetinaFaceError naming the option and what it accepts, never a TypeError
 * deeper down (a fractional thread count used to split the work wrongly).
 */
export function checkDetectorOptions(opts: Partial<DetectorOptions>): void {
  const bad = (name: string, value: unknown, expected: string): never => {
    throw new RetinaFaceError(`invalid option ${name}: ${JSON.stringify(value) ?? String(value)} (expected ${expected})`, { code: 'EOPTION' });
  };
  if (opts.arch !== undefined && !isArch(opts.arch)) bad('arch', opts.arch, ARCHS.map((a) => `'${a}'`).join(' or '));
  if (opts.backend !== undefined && !(BACKEND_SPECS as readonly unknown[]).includes(opts.backend)) bad('backend', opts.backend, `one of ${BACKEND_SPECS.join(', ')}`);
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1 && opts.threads <= MAX_THREADS)) bad('threads', opts.threads, `an integer 1..${MAX_THREADS}`);
  if (opts.fma !== undefined && typeof opts.fma !== 'boolean') bad('fma', opts.fma, 'true or false');
  if (opts.strassen !== undefined && typeof opts.strassen !== 'boolean') bad('strassen', opts.strassen, 'true or false');
  checkWinogradTile(opts.winogradTile);
}

/** Builds the model from checked weights and prepares a backend for it. */
export async function prepareModel(tensors: Map<string, Tensor>, opts: DetectorOptions, source: string): Promise<[RetinaFaceModel, Backend<unknown>]> {
  checkDetectorOptions(opts);
  const model = buildRetinaFace(opts.arch, tensors, source);
  const spec = opts.backend ?? DEFAULT_BACKEND;
  const backendOptions: BackendOptions = {
    threads: opts.threads, simdModules: opts.simdModules, fma: opts.fma, winogradTile: opts.winogradTile, strassen: opts.strassen,
  };
  const backend = await createBackend(spec, backendOptions);
  try {
    await backend.prepare(model);
  } catch (e) {
    backend.dispose();
    // 'auto' promised a detector wherever JavaScript runs: a runtime whose SIMD module compiles
    // but whose workers cannot start (a sandbox without Worker) still gets the plain CPU backend.
    if (spec !== 'auto' || backend.name === 'cpu-fast' || e instanceof RetinaFaceError) throw e;
    const fallback = await createBackend('cpu', backendOptions);
    fallback.why = `auto chose cpu: cpu-simd did not start (${String((e as Error).message).split('\n')[0]})`;
    await fallback.prepare(model);
    return [model, fallback];
  }
  return [model, backend];
}

export class RetinaFaceDetector {
  private disposed = false;
  /**
   * Calls in flight, chained: a backend's activations live in storage reused pass after pass
   * (cpu-simd's arena, gpu.js textures), so concurrent detect() calls run one after the other.
   */
  private queue: Promise<unknown> = Promise.resolve();

  /** A prepared model and backend; see fromTensors (here) and RetinaFace.load (Node). */
  constructor(readonly model: RetinaFaceModel, readonly backend: Backend<unknown>) {}

  /** The backend that runs the network, e.g. 'cpu-simd' or 'gpujs-webasm' (never 'auto'). */
  get backendName(): string {
    return this.backend.name;
  }

  /** Why that backend: 'requested', or what 'auto' / 'gpujs-auto' chose and why. */
  get backendWhy(): string {
    return this.backend.why ?? 'requested';
  }

  /** Runs `fn` after every earlier call has finished; rejects once the detector is disposed. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.disposed) throw new RetinaFaceError('the detector was disposed', { code: 'EDISPOSED' });
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  get arch(): Arch {
    return this.model.arch;
  }

  /** A detector from weights already loaded (name -> tensor, as the checkpoint names them). */
  static async fromTensors(tensors: Map<string, Tensor>, opts: DetectorOptions, source = '<weights>'): Promise<RetinaFaceDetector> {
    return new RetinaFaceDetector(...(await prepareModel(tensors, opts, source)));
  }

  /** Decodes an encoded image, reads a DOM image source or takes decoded pixels; `name` labels errors. */
  decode(image: ImageInput, opts: DecodeOptions = {}, name = '<image>'): RgbImage {
    if (image instanceof ArrayBuffer) return decodeImage(new Uint8Array(image), name, opts);
    if (image instanceof Uint8Array) return decodeImage(image, name, opts);
    if (ArrayBuffer.isView(image)) return decodeImage(new Uint8Array(image.buffer, image.byteOffset, image.byteLength), name, opts);
    if (domSourceKind(image) !== null) return toRgb(readDomSource(image, name, resolveMaxPixels(opts)), name);
    if (typeof image !== 'object' || image === null || !('data' in image)) {
      const hint = typeof Blob !== 'undefined' && image instanceof Blob ? 'a Blob or File (pass new Uint8Array(await blob.arrayBuffer()))'
        : image instanceof URL ? 'a URL (pass a file path, or the bytes of fetch(url))'
          : image === null ? 'null' : typeof image;
      throw new RetinaFaceError(`${name}: expected JPEG or PNG bytes, pixels ({ data, width, height }) or a browser image source, got ${hint}`, { code: 'EIMAGE' });
    }
    return toRgb(image, name);
  }

  /** The network alone: input (3, H, W) BGR minus the means; taps select module outputs to keep. */
  async forward(input: Tensor, taps?: TapSelection): Promise<NetworkOutput> {
    return this.exclusive(() => runNetwork(this.backend, this.model, input, taps));
  }

  /**
   * The faces with score >= visThreshold (default 0.6), best first, in original-image pixels.
   * `visThreshold: 0` gives every face the reference's post-processing keeps (detectDetailed's
   * `candidates`).
   */
  async detect(image: ImageInput | RgbImage, opts: DetectCallOptions = {}, name = '<image>'): Promise<Face[]> {
    return this.exclusive(async () => (await this.detectNow(image, opts, name, this.kept.into)).faces);
  }

  /** The output arrays of the calls that hand out no raw outputs, one per output (runUploaded's `into`). */
  private readonly kept = keptOutputArrays();

  /**
   * detect() with the time of each stage, the sizes, every candidate and the raw network outputs
   * (fresh arrays, the caller's); with `raw: false`, all of it but the raw outputs.
   */
  async detectDetailed(image: ImageInput | RgbImage, opts: DetailedCallOptions & { raw: false }, name?: string): Promise<DetectionSummary>;
  async detectDetailed(image: ImageInput | RgbImage, opts?: DetailedCallOptions & { raw?: true }, name?: string): Promise<Detection>;
  async detectDetailed(image: ImageInput | RgbImage, opts?: DetailedCallOptions, name?: string): Promise<Detection | DetectionSummary>;
  async detectDetailed(image: ImageInput | RgbImage, opts: DetailedCallOptions = {}, name = '<image>'): Promise<Detection | DetectionSummary> {
    const { raw, ...call } = opts;
    return this.detailed(raw, (into) => this.detectNow(image, call, name, into));
  }

  /**
   * One detectDetailed() or detectRows() call, exclusive: whole (`raw` true or left out, the
   * outputs read into fresh arrays) or without its raw outputs (read into the kept ones).
   */
  private async detailed(raw: unknown, run: (into: OutputArrays | undefined) => Promise<Detection>): Promise<Detection | DetectionSummary> {
    const keep = wantsRaw(raw);
    return this.exclusive(async () => withoutRaw(await run(keep ? undefined : this.kept.into), keep));
  }

  /** Every option of one call checked (one RetinaFaceError naming the option), before any work. */
  private resolveCall(opts: DetectCallOptions): RunContext & { multi: MultiScaleOptions; rescale: number | undefined; maxPixels: number | undefined } {
    const { rescale, maxPixels, clip = false, scales, flip, merge, maxNetworkPixels, tileOverlap, onTile, ...detectOpts } = opts;
    const options = resolveDetectOptions(detectOpts);
    const multi = resolveMultiScale({ scales, flip, merge });
    const tiling = resolveTileOptions({ maxNetworkPixels, tileOverlap });
    if (typeof clip !== 'boolean') throw new RetinaFaceError(`invalid option clip: ${String(clip)} (expected true or false)`, { code: 'EOPTION' });
    if (onTile !== undefined && typeof onTile !== 'function') throw new RetinaFaceError('invalid option onTile: expected a function', { code: 'EOPTION' });
    if (maxPixels !== undefined) resolveMaxPixels({ maxPixels });
    if (rescale !== undefined && rescale !== 1 && !isSingleRun(multi)) {
      throw new RetinaFaceError('invalid options: rescale and scales/flip together (rescale R is scales [1/R] with ailia\'s sizes: use one)', { code: 'EOPTION' });
    }
    return { options, multi, tiling, clip, onTile, rescale, maxPixels, t0: now(), decode: 0, into: undefined };
  }

  /** One detect call; `into`: read the outputs into these reused arrays (the result's raw outputs then share them). */
  private async detectNow(image: ImageInput | RgbImage, opts: DetectCallOptions, name: string, into?: OutputArrays): Promise<Detection> {
    const call = this.resolveCall(opts);
    const { options, multi, tiling, rescale, maxPixels, clip } = call;
    const t0 = now();
    const img = this.decode(image, maxPixels === undefined ? {} : { maxPixels }, name);
    const t1 = now();
    const ctx: RunContext = { ...call, t0, decode: t1 - t0, into };
    if (!isSingleRun(multi)) {
      return this.detectRuns(img, multi.scales.map((s) => ({ scale: s, size: scaledSize(img.width, img.height, s), make: () => scaleImage(img, s) })), multi, ctx);
    }
    let size = { width: img.width, height: img.height };
    if (rescale !== undefined && rescale !== 1) {
      try {
        size = rescaleSize(img.width, img.height, rescale);
      } catch (e) {
        throw new RetinaFaceError(`invalid option rescale: ${(e as Error).message}`, { code: 'EOPTION' });
      }
    }
    const rescaled = size.width !== img.width || size.height !== img.height;
    if (tiling.maxNetworkPixels !== undefined && size.width * size.height > tiling.maxNetworkPixels) {
      return this.detectRuns(img, [{ scale: rescaled ? 1 / rescale! : 1, size, make: () => (rescaled ? resizeForRescale(img, rescale!) : img) }], multi, ctx);
    }
    const net = rescaled ? resizeForRescale(img, rescale!) : img;
    const x = this.upload(net);
    const t2 = now();
    const raw = await runUploaded(this.backend, this.model, x, undefined, into);
    const t3 = now();
    const scale: [number, number] = [img.width / net.width, img.height / net.height];
    const p = proposals(raw.loc, raw.conf, raw.landms, { height: net.height, width: net.width }, options);
    let candidates = suppress(p, { ...options, scale: scale[0] === scale[1] ? scale[0] : scale });
    if (clip) candidates = candidates.map((f) => clipFace(f, img.width, img.height));
    const faces = visibleFaces(candidates, options.visThreshold);
    const t4 = now();
    const run: NetworkRun = {
      scale: rescaled ? 1 / rescale! : 1, flip: false, inputWidth: net.width, inputHeight: net.height, forward: t3 - t2,
      proposals: p.scores.length, tiles: 1, tileWidth: net.width, tileHeight: net.height,
    };
    return {
      faces, candidates, width: img.width, height: img.height, inputWidth: net.width, inputHeight: net.height, raw, runs: [run],
      timings: { decode: t1 - t0, preprocess: t2 - t1, forward: t3 - t2, postprocess: t4 - t3, total: t4 - t0 },
    };
  }

  /** The image written straight into the backend's input storage where it has one (cpu-simd's arena). */
  private upload(net: RgbImage): unknown {
    return uploadInput(this.backend, { shape: [3, net.height, net.width], write: (dst) => toNetworkInputInto(net, dst) });
  }

  /** One untiled run over `net`: its proposals in net pixels. */
  private async runWhole(net: RgbImage, options: DetectOptions, time: StageTime, into: OutputArrays | undefined): Promise<{ p: Proposals; raw: NetworkOutput }> {
    const tb = now();
    const x = this.upload(net);
    const tc = now();
    const raw = await runUploaded(this.backend, this.model, x, undefined, into);
    const td = now();
    const p = proposals(raw.loc, raw.conf, raw.landms, { height: net.height, width: net.width }, options);
    time.preprocess += tc - tb; time.forward += td - tc; time.postprocess += now() - td;
    return { p, raw };
  }

  /**
   * The network over every tile of `grid`, band by band: each tile's proposals in its core (and
   * up to the largest whole face, tiles.ts), pooled, in pixels of the image the bands hold.
   * Reading a band is 'decode' time for a streamed image.
   */
  private async runTiles(bands: Bands, grid: TileGrid, ctx: RunContext, time: StageTime, progress: { done: number; total: number }): Promise<{ p: Proposals; raw: NetworkOutput }> {
    const pooled: Proposals[] = [];
    let first: NetworkOutput | undefined;
    for (const row of grid.rows) {
      const ta = now();
      const band = bands.band(row.y, row.height);
      time.decode += now() - ta;
      for (const tile of row.tiles) {
        const tb = now();
        const x = uploadInput(this.backend, { shape: [3, tile.height, tile.width], write: (dst) => cropToNetworkInputInto(band, tile.x, 0, tile.width, tile.height, dst) });
        const tc = now();
        const raw = await runUploaded(this.backend, this.model, x, undefined, ctx.into);
        const td = now();
        first ??= raw;
        pooled.push(keepCore(proposals(raw.loc, raw.conf, raw.landms, { height: tile.height, width: tile.width }, ctx.options), tile, grid.overlap));
        time.preprocess += tc - tb; time.forward += td - tc; time.postprocess += now() - td;
        ctx.onTile?.(++progress.done, progress.total);
      }
    }
    return { p: poolProposals(pooled), raw: first! };
  }

  /**
   * The coarse run beside a tiled one: `coarse` is the tiled image box-averaged k x k; only its
   * faces larger than half what a tile keeps (maxWholeFace) are taken, mapped to original pixels through
   * the tiled image's scale (sx, sy) times k.
   */
  private async runCoarse(coarse: RgbImage, k: number, overlap: number, sx: number, sy: number, scale: number, ctx: RunContext, time: StageTime): Promise<{ p: Proposals; run: NetworkRun }> {
    const before = time.forward;
    const { p } = await this.runWhole(coarse, ctx.options, time, ctx.into);
    // from half the largest whole face up: the two runs measure a face a little differently, and a
    // face a tile drops as too large must not be one the coarse run finds too small; in between
    // both keep it and the suppression merges the two boxes
    const large = largerThan(p, maxWholeFace(overlap) / 2 / k);
    return {
      p: toOriginal(large, sx * k, sy * k),
      run: {
        scale: scale / k, flip: false, inputWidth: coarse.width, inputHeight: coarse.height, forward: time.forward - before,
        proposals: large.scores.length, tiles: 1, tileWidth: coarse.width, tileHeight: coarse.height, coarse: true,
      },
    };
  }

  /**
   * Several runs (scales, flips, or one run in tiles), their proposals pooled in original pixels
   * and merged. A tiled run keeps faces up to tiles.ts's maxWholeFace; when the smallest scale is
   * tiled, a coarse run of its image (box-averaged to fit the budget) finds the larger ones.
   */
  private async detectRuns(img: RgbImage, nets: readonly { scale: number; size: { width: number; height: number }; make: () => RgbImage }[], multi: MultiScaleOptions, ctx: RunContext): Promise<Detection> {
    const { options, tiling } = ctx;
    const runs: NetworkRun[] = [];
    const pooled: Proposals[] = [];
    let first: NetworkOutput | undefined;
    const time: StageTime = { decode: ctx.decode, preprocess: 0, forward: 0, postprocess: 0 };
    const smallest = Math.min(...nets.map((n) => n.scale));
    const gridOf = (size: { width: number; height: number }) => (tiling.maxNetworkPixels === undefined ? undefined : tileGrid(size.width, size.height, tiling.maxNetworkPixels, tiling.overlap));
    // every run's tiles, from the sizes alone: the progress count
    const progress = { done: 0, total: nets.reduce((sum, n) => sum + (gridOf(n.size)?.tiles.length ?? 0) * (multi.flip ? 2 : 1), 0) };
    for (const { scale: s, make } of nets) {
      const ts = now();
      const scaled = make(); // once per scale: the flipped run mirrors it
      time.preprocess += now() - ts;
      for (const mirrored of multi.flip ? [false, true] : [false]) {
        const ta = now();
        const net = mirrored ? mirrorImage(scaled) : scaled;
        time.preprocess += now() - ta;
        const grid = gridOf(net);
        const before = time.forward;
        const { p, raw } = grid === undefined ? await this.runWhole(net, options, time, ctx.into) : await this.runTiles(memoryBands(net), grid, ctx, time, progress);
        first ??= raw;
        const tp = now();
        const sx = img.width / net.width, sy = img.height / net.height;
        pooled.push(toOriginal(p, sx, sy, mirrored ? net.width : undefined));
        time.postprocess += now() - tp;
        runs.push({
          scale: s, flip: mirrored, inputWidth: net.width, inputHeight: net.height, forward: time.forward - before, proposals: p.scores.length,
          tiles: grid?.tiles.length ?? 1, tileWidth: grid?.tileWidth ?? net.width, tileHeight: grid?.tileHeight ?? net.height,
        });
        if (grid !== undefined && s === smallest && !mirrored) {
          const tc = now();
          const k = coarseFactor(net.width, net.height, tiling.maxNetworkPixels!);
          const down = new BoxDownscale(net.width, net.height, k);
          down.push(net.data, net.height);
          time.preprocess += now() - tc;
          const c = await this.runCoarse(down.image(), k, grid.overlap, sx, sy, s, ctx, time);
          pooled.push(c.p);
          runs.push(c.run);
        }
      }
    }
    return this.merged(img.width, img.height, pooled, runs, first!, multi.merge, ctx, time);
  }

  /** The runs' pooled proposals suppressed once (merge.ts), clipped if asked, and the Detection around them. */
  private merged(width: number, height: number, pooled: Proposals[], runs: NetworkRun[], raw: NetworkOutput, merge: MultiScaleOptions['merge'], ctx: RunContext, time: StageTime): Detection {
    const te = now();
    const { options } = ctx;
    let candidates = mergeProposals(poolProposals(pooled), { nmsThreshold: options.nmsThreshold, keepTopK: options.keepTopK, merge });
    if (ctx.clip) candidates = candidates.map((f) => clipFace(f, width, height));
    const faces = visibleFaces(candidates, options.visThreshold);
    const t4 = now();
    return {
      faces, candidates, width, height, inputWidth: runs[0]!.inputWidth, inputHeight: runs[0]!.inputHeight, raw, runs,
      timings: { ...time, postprocess: time.postprocess + (t4 - te), total: t4 - ctx.t0 },
    };
  }

  /**
   * detect() on an image read a band of rows at a time (a streamed decode: src/image/jpeg_rows.ts
   * jpegRows), for photos too large to hold: with maxNetworkPixels set and the image over it, only
   * one band of tile rows (the tile height times the image width) and the coarse run's image
   * (at most maxNetworkPixels) are ever in memory. One run at the image's own size: scales, flip
   * and rescale need the whole image and are refused here. maxPixels, when given, limits the
   * image's size (there is no default: the image is never whole in memory).
   */
  async detectRows(src: RowSource, opts: DetailedCallOptions & { raw: false }, name?: string): Promise<DetectionSummary>;
  async detectRows(src: RowSource, opts?: DetailedCallOptions & { raw?: true }, name?: string): Promise<Detection>;
  async detectRows(src: RowSource, opts?: DetailedCallOptions, name?: string): Promise<Detection | DetectionSummary>;
  async detectRows(src: RowSource, opts: DetailedCallOptions = {}, name = '<image>'): Promise<Detection | DetectionSummary> {
    const { raw, ...rest } = opts;
    return this.detailed(raw, (into) => this.rowsNow(src, rest, name, into));
  }

  private async rowsNow(src: RowSource, opts: DetectCallOptions, name: string, into: OutputArrays | undefined): Promise<Detection> {
    const call = { ...this.resolveCall(opts), into };
    if (!isSingleRun(call.multi) || (call.rescale !== undefined && call.rescale !== 1)) {
      throw new RetinaFaceError('invalid options: a streamed image runs at its own size (scales, flip and rescale need the whole image)', { code: 'EOPTION' });
    }
    const { width: W, height: H } = src;
    if (call.maxPixels !== undefined && W * H > call.maxPixels) {
      throw new RetinaFaceError(`image is ${W}x${H} (${(W * H / 1e6).toFixed(1)} megapixels), over the limit of ${(call.maxPixels / 1e6).toFixed(1)} megapixels (option maxPixels)`, { file: name, code: 'ETOOBIG' });
    }
    const { tiling } = call;
    const grid = tiling.maxNetworkPixels === undefined ? undefined : tileGrid(W, H, tiling.maxNetworkPixels, tiling.overlap);
    if (grid === undefined) {
      // it fits in one run: read whole, detected as any image
      const t0 = now();
      const img = rgbImage(W, H);
      if (src.read(img.data, H) !== H) throw new RetinaFaceError('the image ended early', { file: name, code: 'EDECODE' });
      const read = now() - t0;
      const d = await this.detectNow(img, opts, name, into);
      d.timings.decode += read;
      d.timings.total += read;
      return d;
    }
    const ctx: RunContext = { ...call, t0: now() };
    const time: StageTime = { decode: 0, preprocess: 0, forward: 0, postprocess: 0 };
    const k = coarseFactor(W, H, tiling.maxNetworkPixels!);
    const down = new BoxDownscale(W, H, k);
    const bands = streamBands(src, grid.tileHeight, (data, rows) => {
      const t = now();
      down.push(data, rows);
      time.preprocess += now() - t;
    });
    const { p, raw } = await this.runTiles(bands, grid, ctx, time, { done: 0, total: grid.tiles.length });
    const run: NetworkRun = {
      scale: 1, flip: false, inputWidth: W, inputHeight: H, forward: time.forward, proposals: p.scores.length,
      tiles: grid.tiles.length, tileWidth: grid.tileWidth, tileHeight: grid.tileHeight,
    };
    const c = await this.runCoarse(down.image(), k, grid.overlap, 1, 1, 1, ctx, time);
    return this.merged(W, H, [p, c.p], [run, c.run], raw, call.multi.merge, ctx, time);
  }

  /**
   * Aligned crops of `faces` (default: the visible faces detect() finds) from the same kinds of
   * input as detect(): ArcFace's 112x112 unless `size` / `template` say otherwise (src/align).
   */
  async align(image: ImageInput | RgbImage, faces?: readonly Face[], opts: AlignOptions & DetectCallOptions = {}, name = '<image>'): Promise<{ face: Face; crop: AlignedFace }[]> {
    const { size, template, borderValue, ...detectOpts } = opts;
    const alignOpts: AlignOptions = { ...(size === undefined ? {} : { size }), ...(template === undefined ? {} : { template }), ...(borderValue === undefined ? {} : { borderValue }) };
    alignTemplate(alignOpts); // options checked before any work
    // decoded once: an RgbImage passes through decode() uncopied, into detection and the warps
    const rgb = this.decode(image, detectOpts.maxPixels === undefined ? {} : { maxPixels: detectOpts.maxPixels }, name);
    const list = faces ?? (await this.detect(rgb, detectOpts, name));
    return list.map((face) => ({ face, crop: alignFace(rgb, face, alignOpts) }));
  }

  /** Frees what the backend holds (packed weights, GPU textures and buffers, workers). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backend.dispose();
    this.kept.clear();
  }
}
