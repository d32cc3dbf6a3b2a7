// retinaface-ts for Node: the detector with paths, Buffers and weights that resolve themselves.
//
//   const detector = await RetinaFace.load({ arch: 'mobile0.25' });
//   const faces = await detector.detect('photo.jpg');
//   detector.dispose();
//
// The browser build (src/browser.ts) exports the same detector without the Node parts.
import { promises as fs } from 'node:fs';
import { DEFAULT_BACKEND, type BackendSpec } from './backend.js';
import { checkDetectorOptions, prepareModel, RetinaFaceDetector, type DetailedCallOptions, type DetectCallOptions, type Detection, type DetectionSummary, type DetectorOptions, type ImageInput } from './detector.js';
import { RetinaFaceError } from './errors.js';
import type { Face } from './detect/postprocess.js';
import type { AlignedFace, AlignOptions } from './align/align.js';
import type { RgbImage } from './image/image.js';
import type { Arch } from './model/config.js';
import { describeFsError } from './weights/files.js';
import { resolveWeights, type ResolveOptions } from './weights/resolve.js';

export interface LoadOptions extends Omit<ResolveOptions, 'source'> {
  /** 'mobile0.25' (default) or 'resnet50' */
  arch?: Arch;
  /** default 'auto': cpu-simd where WebAssembly SIMD runs, else cpu (see `backendName`, `backendWhy`) */
  backend?: BackendSpec;
  /** worker threads of the 'cpu-simd' backend (default: all cores) */
  threads?: number;
  /** cpu-simd's kernel module precompiled (dist/wasm/*.wasm compiled); normally generated at load */
  simdModules?: DetectorOptions['simdModules'];
  /** cpu-simd's fused multiply-add (default: where the engine has it; false: the same bits on every machine) */
  fma?: boolean;
  /** cpu-simd's Winograd tile, 2 or 4 (default: 4 from 64 input channels; 2: a smaller arena, see BackendOptions.winogradTile) */
  winogradTile?: 2 | 4;
  /** cpu-simd's Strassen for the large dense convolutions (default true; false: a smaller arena, see BackendOptions.strassen) */
  strassen?: boolean;
}

/** What RetinaFace.load() takes; anything else is refused (a misspelt option would do nothing). */
const LOAD_OPTIONS = new Set(['arch', 'backend', 'threads', 'simdModules', 'fma', 'winogradTile', 'strassen', 'weights', 'cacheDir', 'weightsDir', 'download', 'onProgress', 'timeoutMs', 'source']);

export class RetinaFace extends RetinaFaceDetector {
  /** The weights file actually used (explicit, cached, or freshly converted). */
  weightsFile = '';

  /**
   * Loads the weights (options.weights, else the cache, else $RETINAFACE_WEIGHTS_DIR, else the
   * official download, sha256-checked) and prepares the backend.
   */
  static async load(opts: LoadOptions = {}): Promise<RetinaFace> {
    for (const k of Object.keys(opts)) {
      if (!LOAD_OPTIONS.has(k)) throw new RetinaFaceError(`unknown option ${k} (expected ${[...LOAD_OPTIONS].join(', ')})`, { code: 'EOPTION' });
    }
    const { arch = 'mobile0.25', backend = DEFAULT_BACKEND, threads, simdModules, fma, winogradTile, strassen, ...resolve } = opts;
    const tuning = { threads, fma, winogradTile, strassen }; // each undefined where not given: the backend's default
    checkDetectorOptions({ arch, backend, ...tuning }); // before any file is read
    const w = await resolveWeights(arch, resolve);
    const d = new RetinaFace(...(await prepareModel(w.tensors, {
      arch, backend, ...tuning, simdModules,
    }, w.file)));
    d.weightsFile = w.file;
    return d;
  }

  /** image: a file path, a Buffer/Uint8Array of a JPEG or PNG, or decoded RGB/RGBA pixels. */
  override async detect(image: string | ImageInput | RgbImage, opts: DetectCallOptions = {}, name?: string): Promise<Face[]> {
    const read = await readIfPath(image, name);
    return super.detect(read.image, opts, read.name);
  }

  override async detectDetailed(image: string | ImageInput | RgbImage, opts: DetailedCallOptions & { raw: false }, name?: string): Promise<DetectionSummary>;
  override async detectDetailed(image: string | ImageInput | RgbImage, opts?: DetailedCallOptions & { raw?: true }, name?: string): Promise<Detection>;
  override async detectDetailed(image: string | ImageInput | RgbImage, opts?: DetailedCallOptions, name?: string): Promise<Detection | DetectionSummary>;
  override async detectDetailed(image: string | ImageInput | RgbImage, opts: DetailedCallOptions = {}, name?: string): Promise<Detection | DetectionSummary> {
    const read = await readIfPath(image, name);
    return super.detectDetailed(read.image, opts, read.name);
  }

  /** image: as detect(); faces default to the visible faces of the image (see RetinaFaceDetector.align). */
  override async align(image: string | ImageInput | RgbImage, faces?: readonly Face[], opts: AlignOptions & DetectCallOptions = {}, name?: string): Promise<{ face: Face; crop: AlignedFace }[]> {
    const read = await readIfPath(image, name);
    return super.align(read.image, faces, opts, read.name);
  }
}

/** A path's bytes, labelled by the path (unless `name` says otherwise); any other image as it is. */
async function readIfPath(image: string | ImageInput | RgbImage, name: string | undefined): Promise<{ image: ImageInput | RgbImage; name: string | undefined }> {
  return typeof image === 'string' ? { image: await readImageFile(image), name: name ?? image } : { image, name };
}

async function readImageFile(file: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(file);
  } catch (e) {
    throw new RetinaFaceError(describeFsError(e), { file, code: 'EREAD', cause: e });
  }
}

export { RetinaFaceDetector } from './detector.js';
export type { DetailedCallOptions, DetectCallOptions, Detection, DetectionSummary, ImageInput, NetworkRun, Pixels, StageTimings } from './detector.js';
export { DEFAULT_DETECT_OPTIONS, type DetectOptions, type Face, type Point } from './detect/postprocess.js';
export { RetinaFaceError } from './errors.js';
export type { Arch } from './model/config.js';
export { BACKEND_SPECS, DEFAULT_BACKEND, type BackendSpec } from './backend.js';
export { GPUJS_MISSING } from './backends/index.js';
export type { RgbImage } from './image/image.js';
export type { Tensor } from './tensor.js';
export { convertCheckpoint, loadWeights } from './weights/convert.js';
export { defaultCacheDir, OFFICIAL_CHECKPOINTS, resolveWeights } from './weights/resolve.js';
export { drawDetections } from './image/draw.js';
export { encodeImage } from './image/encode.js';
export { decodeImage, DEFAULT_MAX_PIXELS } from './image/decode.js';
export { imageRows, jpegRows, jpegStreamRefusal, type RowSource } from './image/jpeg_rows.js';
export { DEFAULT_TILE_OVERLAP, MIN_NETWORK_PIXELS, tileGrid, type Tile, type TileGrid, type TileOptions } from './detect/tiles.js';
export { alignFace, alignFaces, alignTemplate, ARCFACE_TEMPLATE, DEFAULT_ALIGN_SIZE, type AlignedFace, type AlignOptions } from './align/align.js';
export { estimateSimilarity, type Matrix2x3 } from './align/similarity.js';
export { warpAffine } from './align/warp.js';
export { SIMD_WASM_FILES, SIMD_MEMORY, type CompiledWasmModule, type SimdModules } from './ops/simd_files.js';
export { createTracker, DEFAULT_TRACKER_OPTIONS, type TrackedFace, type Tracker, type TrackerOptions } from './track/tracker.js';
export { OneEuroFilter, DEFAULT_ONE_EURO, type OneEuroOptions } from './track/one_euro.js';
