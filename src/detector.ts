// The detector: an image in, faces out (box, score, five landmarks, original-image pixels).
// Pure (no Node built-ins) so that the browser build can use it; src/index.ts adds what Node
// has (paths, Buffers, weights that resolve themselves).
import { createBackend, type BackendSpec } from './backend.js';
import type { Backend } from './backend.js';
import { postprocess, resolveDetectOptions, type DetectOptions, type Face } from './detect/postprocess.js';
import { decodeImage, type DecodeOptions } from './image/decode.js';
import { rgbImage, type RgbImage } from './image/image.js';
import { rescaleSize, resizeForRescale, toNetworkInputInto } from './image/preprocess.js';
import { RetinaFaceError } from './errors.js';
import type { Arch } from './model/config.js';
import { buildRetinaFace, runNetwork, runUploaded, uploadInput, type NetworkOutput, type RetinaFace as RetinaFaceModel } from './model/retinaface.js';
import type { TapSelection } from './model/forward.js';
import type { Tensor } from './tensor.js';

/** Decoded pixels: RGB (3 bytes per pixel) or RGBA (4, e.g. a canvas ImageData; alpha ignored). */
export interface Pixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

/** An encoded JPEG or PNG file's bytes, or decoded pixels. */
export type ImageInput = Uint8Array | ArrayBuffer | Pixels;

export interface DetectCallOptions extends Partial<Omit<DetectOptions, 'scale'>>, DecodeOptions {
  /** Downscale the image by this factor (>= 1) before the network, as ailia's --rescale; faces stay in original pixels. */
  rescale?: number;
}

export interface StageTimings {
  decode: number;
  preprocess: number;
  forward: number;
  postprocess: number;
  total: number;
}

export interface Detection {
  faces: Face[];
  /** the original image size */
  width: number;
  height: number;
  /** the network input size (smaller than the image under rescale) */
  inputWidth: number;
  inputHeight: number;
  /** milliseconds per stage */
  timings: StageTimings;
  /** the network's raw outputs (loc, conf, landms) */
  raw: NetworkOutput;
}

export interface DetectorOptions {
  arch: Arch;
  backend?: BackendSpec;
  /** worker threads of the 'cpu-simd' backend (default: all cores) */
  threads?: number;
}

const now = () => globalThis.performance.now();

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

/** Builds the model from checked weights and prepares a backend for it. */
export async function prepareModel(tensors: Map<string, Tensor>, opts: DetectorOptions, source: string): Promise<[RetinaFaceModel, Backend<unknown>]> {
  const model = buildRetinaFace(opts.arch, tensors, source);
  const backend = await createBackend(opts.backend ?? 'cpu', opts.threads === undefined ? {} : { threads: opts.threads });
  await backend.prepare(model);
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

  /** The backend that runs the network, e.g. 'cpu-simd' or 'gpujs-webasm'. */
  get backendName(): string {
    return this.backend.name;
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

  /** Decodes an encoded image or takes decoded pixels; `name` labels errors. */
  decode(image: ImageInput, opts: DecodeOptions = {}, name = '<image>'): RgbImage {
    if (image instanceof ArrayBuffer) return decodeImage(new Uint8Array(image), name, opts);
    if (image instanceof Uint8Array) return decodeImage(image, name, opts);
    return toRgb(image, name);
  }

  /** The network alone: input (3, H, W) BGR minus the means; taps select module outputs to keep. */
  async forward(input: Tensor, taps?: TapSelection): Promise<NetworkOutput> {
    return this.exclusive(() => runNetwork(this.backend, this.model, input, taps));
  }

  async detect(image: ImageInput | RgbImage, opts: DetectCallOptions = {}): Promise<Face[]> {
    return (await this.detectDetailed(image, opts)).faces;
  }

  /** detect() with the time of each stage, the sizes and the raw network outputs. */
  async detectDetailed(image: ImageInput | RgbImage, opts: DetectCallOptions = {}, name = '<image>'): Promise<Detection> {
    return this.exclusive(() => this.detectNow(image, opts, name));
  }

  private async detectNow(image: ImageInput | RgbImage, opts: DetectCallOptions, name: string): Promise<Detection> {
    const { rescale, maxPixels, ...detectOpts } = opts;
    const options = resolveDetectOptions(detectOpts); // validate before any work
    const t0 = now();
    const img = this.decode(image, maxPixels === undefined ? {} : { maxPixels }, name);
    const t1 = now();
    let net = img;
    if (rescale !== undefined && rescale !== 1) {
      try {
        rescaleSize(img.width, img.height, rescale);
      } catch (e) {
        throw new RetinaFaceError(`invalid option rescale: ${(e as Error).message}`, { code: 'EOPTION' });
      }
      net = resizeForRescale(img, rescale);
    }
    // Written straight into the backend's input storage where it has one (cpu-simd's arena).
    const x = uploadInput(this.backend, { shape: [3, net.height, net.width], write: (dst) => toNetworkInputInto(net, dst) });
    const t2 = now();
    const raw = await runUploaded(this.backend, this.model, x);
    const t3 = now();
    const scale: [number, number] = [img.width / net.width, img.height / net.height];
    const faces = postprocess(raw.loc, raw.conf, raw.landms, { height: net.height, width: net.width }, { ...options, scale: scale[0] === scale[1] ? scale[0] : scale });
    const t4 = now();
    return {
      faces, width: img.width, height: img.height, inputWidth: net.width, inputHeight: net.height, raw,
      timings: { decode: t1 - t0, preprocess: t2 - t1, forward: t3 - t2, postprocess: t4 - t3, total: t4 - t0 },
    };
  }

  /** Frees what the backend holds (packed weights, GPU textures and buffers, workers). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backend.dispose();
  }
}
