// The browser entry: the detector, its weights from a URL or bytes, and which backends can run
// here. No Node built-in anywhere in its import graph once package.json "browser" has swapped
// png_codec.js and simd_host.node.js for their browser twins (test/browser_build.test.ts walks
// the graph as a bundler would). The gpu.js and cpu-simd code is imported on first use, so a
// bundle splits it into chunks that a page downloads only when it picks those backends.
//
//   import { loadDetector } from 'retinaface-ts/browser';
//   const detector = await loadDetector('retinaface-mobile0.25.safetensors'); // backend 'auto'
//   const { faces, timings } = await detector.detectDetailed(imageData); // canvas ImageData, or JPEG bytes
//   detector.dispose();
//
// Off the main thread, the same calls on a detector in a module Web Worker (src/worker/):
//
//   const detector = await loadWorkerDetector('retinaface-mobile0.25.safetensors');
//   const faces = await detector.detect(await createImageBitmap(video));
import type { Arch } from './model/config.js';
import { RetinaFaceDetector } from './detector.js';
import { DEFAULT_BACKEND, type BackendSpec } from './backend.js';
import type { SimdModules } from './ops/simd_files.js';
import { fetchWeights, type FetchWeightsOptions, type FetchedWeights, type WeightsSource } from './weights/fetch.js';

export interface LoadDetectorOptions extends FetchWeightsOptions {
  /**
   * default 'auto': cpu-simd (WebAssembly SIMD; threads when the page is cross-origin isolated)
   * where its module compiles, else cpu; `detector.backendName` and `backendWhy` say which
   */
  backend?: BackendSpec;
  /** worker threads of 'cpu-simd' (default: every core when the page may share memory, else 1) */
  threads?: number;
  /**
   * cpu-simd's kernel module precompiled: retinaface-simd.wasm (and -shared.wasm for threads)
   * beside the bundle, compiled or imported as modules, where the page or runtime forbids
   * compiling WebAssembly from bytes but imports .wasm modules (Cloudflare Workers, edge functions)
   */
  simdModules?: SimdModules;
  /** cpu-simd's fused multiply-add (relaxed SIMD; default: where the browser has it) */
  fma?: boolean;
}

/** A detector whose weights load from `weights` (checked: see fetchWeights) onto `backend`. */
export async function loadDetector(weights: WeightsSource, opts: LoadDetectorOptions = {}): Promise<RetinaFaceDetector & { weights: FetchedWeights }> {
  const { backend = DEFAULT_BACKEND, threads, simdModules, fma, ...fetchOpts } = opts;
  const w = await fetchWeights(weights, fetchOpts);
  const d = await RetinaFaceDetector.fromTensors(w.tensors, {
    arch: w.arch, backend, threads, simdModules, fma,
  },
    typeof weights === 'string' || weights instanceof URL ? String(weights) : '<weights>');
  // The tensors now live in the backend (packed, folded, uploaded); keep only the description.
  return Object.assign(d, { weights: { ...w, tensors: new Map() } });
}

export { loadWorkerDetector, probeWorkerBackends, WorkerDetector, type WorkerDetectCallOptions, type WorkerDetection, type WorkerDetectorOptions } from './worker/worker_detector.js';
export { RetinaFaceDetector, type DetailedCallOptions, type DetectCallOptions, type Detection, type DetectionSummary, type ImageInput, type NetworkRun, type Pixels, type StageTimings } from './detector.js';
export type { DomImageSource } from './image/dom_source.js';
export { imageRows, jpegRows, jpegStreamRefusal, type RowSource } from './image/jpeg_rows.js';
export { DEFAULT_TILE_OVERLAP, MIN_NETWORK_PIXELS, tileGrid, type Tile, type TileGrid, type TileOptions } from './detect/tiles.js';
export { BACKEND_SPECS, DEFAULT_BACKEND, type Backend, type BackendSpec } from './backend.js';
export { createBackend, GPUJS_MISSING } from './backends/index.js';
export { BROWSER_BACKENDS, probeBackend, probeBackends, type BackendAvailability } from './backends/availability.js';
export { fetchWeights, DEFAULT_MAX_WEIGHTS_BYTES, type FetchWeightsOptions, type FetchedWeights, type WeightsProgress, type WeightsSource } from './weights/fetch.js';
export { DEFAULT_DETECT_OPTIONS, type DetectOptions, type Face, type Point } from './detect/postprocess.js';
export { decodeImage, probeImage, DEFAULT_MAX_PIXELS, type ImageInfo } from './image/decode.js';
export { RetinaFaceError } from './errors.js';
export { alignFace, alignFaces, alignTemplate, ARCFACE_TEMPLATE, DEFAULT_ALIGN_SIZE, type AlignedFace, type AlignOptions } from './align/align.js';
export { estimateSimilarity, type Matrix2x3 } from './align/similarity.js';
export { createTracker, DEFAULT_TRACKER_OPTIONS, type TrackedFace, type Tracker, type TrackerOptions } from './track/tracker.js';
export { OneEuroFilter, DEFAULT_ONE_EURO, type OneEuroOptions } from './track/one_euro.js';
export { sha256Hex } from './weights/sha256.js';
export { SIMD_WASM_FILES, type CompiledWasmModule, type SimdModules } from './ops/simd_files.js';
export { CpuBackend } from './backends/cpu.js';
export { buildRetinaFace } from './model/retinaface.js';
export { runNetwork, type NetworkOutput } from './model/run.js';
export { decodeTensorFile, encodeTensorFile } from './weights/format.js';
export type { Arch } from './model/config.js';
export type { Tensor } from './tensor.js';
export type { GpuJsMode } from './backends/gpujs_modes.js';
