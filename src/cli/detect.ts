// `retinaface [detect] --input IMAGE... [--savepath OUT]`: faces found, drawn and reported,
// compatible with ailia-models' retinaface.py options (-i, -s, --arch, --rescale, --write_json,
// -b/--benchmark, -c/--benchmark_count) and the reference detect.py thresholds.
import { promises as fs, constants as fsConstants } from 'node:fs';
import * as path from 'node:path';
import { BACKEND_SPECS, DEFAULT_BACKEND, type BackendSpec } from '../backend.js';
import { DEFAULT_DETECT_OPTIONS, type Face } from '../detect/postprocess.js';
import { MERGE_MODES, type MergeMode } from '../detect/merge.js';
import { MAX_SCALE, MIN_SCALE } from '../detect/multiscale.js';
import { DEFAULT_TILE_OVERLAP, MIN_NETWORK_PIXELS, MIN_TILE_OVERLAP, resolveTileOptions } from '../detect/tiles.js';
import { jpegRows, jpegStreamRefusal } from '../image/jpeg_rows.js';
import { writePngBands } from '../image/png_stream.js';
import { probeImage } from '../image/decode.js';
import type { DetectionSummary } from '../detector.js';
import { RetinaFaceError } from '../errors.js';
import { drawDetections } from '../image/draw.js';
import { DEFAULT_MAX_PIXELS } from '../image/decode.js';
import { encodeImage, formatFromPath } from '../image/encode.js';
import { RetinaFace } from '../index.js';
import { ARCHS, type Arch } from '../model/config.js';
import { describeFsError, writeFileAtomic, writeTensorFile } from '../weights/files.js';
import { flag, numberOption, stringOption, UsageError, type CommandSpec, type Io, type ParsedArgs } from './args.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png']);
/** ailia's default output name for one input. */
const DEFAULT_SAVEPATH = 'output.png';
const IO = 'input and output', MODEL = 'model', THRESHOLDS = 'thresholds', SCALES = 'multi-scale and flip testing', PERFORMANCE = 'performance';

export const detectCommand: CommandSpec = {
  name: 'detect',
  summary: 'find faces in images, draw them and report them (the default command)',
  positionals: [],
  options: [
    { group: IO, name: 'input', short: 'i', value: 'IMAGE', multiple: true, help: 'JPEG or PNG files, or directories of them' },
    { group: IO, name: 'video', short: 'v', value: 'FILE', help: 'a video (any format ffmpeg reads) instead of images: faces tracked, drawn with their ids into --savepath' },
    { group: IO, name: 'savepath', short: 's', value: 'PATH', help: `the drawn image (.png/.jpg); a directory for several inputs (default ${DEFAULT_SAVEPATH} for one input); with --video the drawn video (.mp4 H.264, else by extension)` },
    { group: IO, name: 'write_json', short: 'w', help: 'also write the faces as JSON beside each saved image (same name, .json)' },
    { group: IO, name: 'json_format', value: 'FORMAT', choices: ['retinaface', 'ailia'], help: 'the --write_json layout: ours (default), or ailia-models\' list of { bbox_xyxy, prob, landmarks }' },
    { group: IO, name: 'wider_out', value: 'DIR', help: 'also write every kept face (score > confidence_threshold) of each image as DIR/<its folder>/<its name>.txt in the WIDER FACE submission format (retinaface eval reads it)' },
    { group: IO, name: 'raw', value: 'FILE', help: 'write the network outputs loc/conf/landms (one input) as a tensor file' },
    { group: IO, name: 'max_pixels', value: 'N', help: `refuse images over N pixels before decoding (default ${DEFAULT_MAX_PIXELS})` },
    { group: IO, name: 'quiet', short: 'q', help: 'no progress lines on stderr' },
    { group: MODEL, name: 'arch', short: 'a', value: 'ARCH', choices: ARCHS, help: 'the backbone (default mobile0.25)' },
    { group: MODEL, name: 'weights', value: 'FILE', help: 'a .pth checkpoint or converted weights (default: resolved, see weights/README.md)' },
    { group: THRESHOLDS, name: 'vis_thres', value: 'T', help: `faces drawn and reported have score >= T (default ${DEFAULT_DETECT_OPTIONS.visThreshold})` },
    { group: THRESHOLDS, name: 'confidence_threshold', value: 'T', help: `drop anchors scoring <= T before NMS (default ${DEFAULT_DETECT_OPTIONS.confidenceThreshold})` },
    { group: THRESHOLDS, name: 'top_k', value: 'N', help: `anchors entering NMS (default ${DEFAULT_DETECT_OPTIONS.topK})` },
    { group: THRESHOLDS, name: 'nms_threshold', value: 'T', help: `IoU above which NMS suppresses (default ${DEFAULT_DETECT_OPTIONS.nmsThreshold})` },
    { group: THRESHOLDS, name: 'keep_top_k', value: 'N', help: `faces kept after NMS (default ${DEFAULT_DETECT_OPTIONS.keepTopK})` },
    { group: SCALES, name: 'scales', value: 'LIST', help: 'run the network on the image at these scales and merge the faces, e.g. 1,2 (default 1); scale 2 brings 8 px faces to the smallest anchor (16 px) and costs 4x the pixels of scale 1' },
    { group: SCALES, name: 'flip', help: 'also run each scale on the image mirrored left-right, and merge (twice the forward time)' },
    { group: SCALES, name: 'merge', value: 'MODE', choices: MERGE_MODES, help: 'how the runs of --scales/--flip merge: nms (default, the reference\'s suppression) or vote (box voting: each kept box the score-weighted mean of those it suppresses)' },
    { group: THRESHOLDS, name: 'clip', help: 'clip boxes and landmarks to the image (default: not clipped, as the reference)' },
    { group: PERFORMANCE, name: 'backend', value: 'NAME', choices: BACKEND_SPECS, help: `what runs the network (default ${DEFAULT_BACKEND}: cpu-simd where WebAssembly SIMD runs, else cpu)` },
    { group: PERFORMANCE, name: 'threads', value: 'N', help: 'worker threads of the cpu-simd backend (default: all cores)' },
    { group: PERFORMANCE, name: 'max_network_pixels', value: 'N', help: `run the network on overlapping tiles of at most N pixels when an image (at a scale) has more, e.g. 4000000: memory then follows the tile; a baseline JPEG at its own size is also decoded and drawn (.png) band by band, never whole (min ${MIN_NETWORK_PIXELS})` },
    { group: PERFORMANCE, name: 'tile_overlap', value: 'PX', help: `overlap of neighbouring tiles in network pixels, a multiple of 32 from ${MIN_TILE_OVERLAP} to half the tile's side (default ${DEFAULT_TILE_OVERLAP}, the largest anchor: tiles keep faces up to it minus 32, a coarse run the larger ones)` },
    { group: PERFORMANCE, name: 'rescale', short: 'r', value: 'R', help: 'downscale the image by R >= 1 before the network; results stay in original pixels' },
    { group: PERFORMANCE, name: 'benchmark', short: 'b', help: 'time each stage (decode, preprocess, forward, post-process) over several runs; with --video, the median per frame of each stage' },
    { group: PERFORMANCE, name: 'benchmark_count', short: 'c', value: 'N', help: 'runs for --benchmark (default 5)' },
    { group: IO, name: 'ffmpeg', value: 'PATH', help: 'the ffmpeg binary for --video (default: ffmpeg on PATH; ffprobe beside it or on PATH)' },
  ],
  run: runDetect,
};

interface Plan {
  inputs: string[];
  /** per input, where the drawn image goes (none: nothing drawn) */
  outputs: (string | undefined)[];
}

async function stat(file: string) {
  try {
    return await fs.stat(file);
  } catch (e) {
    throw new RetinaFaceError(describeFsError(e), { file, code: 'ENOENT' });
  }
}

/**
 * Files as given; directories expanded to their JPEG/PNG files, sorted. A path that cannot be read
 * stays in the list when others can (its own error line comes when it is processed, and the
 * others still run); when none can, the first error ends the run before any work.
 */
export async function expandInputs(given: string[]): Promise<string[]> {
  const out: string[] = [];
  let firstError: unknown = null;
  let readable = 0;
  for (const p of given) {
    let s;
    try {
      s = await stat(p);
    } catch (e) {
      firstError ??= e;
      out.push(p);
      continue;
    }
    readable++;
    if (!s.isDirectory()) {
      out.push(p);
      continue;
    }
    const entries = await fs.readdir(p, { withFileTypes: true });
    const names = entries.filter((e) => !e.isDirectory() && IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase())).map((e) => e.name).sort();
    if (names.length === 0) {
      // WIDER FACE's layout (images/<event>/*.jpg): folders are not walked, but say how to pass them.
      const dirs = entries.filter((e) => e.isDirectory()).length;
      const hint = dirs > 0 ? ` (its ${dirs === 1 ? 'folder is' : `${dirs} folders are`} not searched: pass ${dirs === 1 ? 'it' : 'them'}, e.g. --input ${path.join(p, '*')})` : '';
      throw new RetinaFaceError(`directory holds no .jpg, .jpeg or .png file${hint}`, { file: p, code: 'ENOENT' });
    }
    out.push(...names.map((n) => path.join(p, n)));
  }
  if (readable === 0 && firstError !== null) throw firstError;
  return out;
}

export async function writableDir(dir: string, what: string): Promise<void> {
  const s = await stat(dir).catch(() => {
    throw new RetinaFaceError(`${what} directory does not exist`, { file: dir, code: 'ENOENT' });
  });
  if (!s.isDirectory()) throw new RetinaFaceError(`${what} is not a directory`, { file: dir, code: 'ENOTDIR' });
  try {
    await fs.access(dir, fsConstants.W_OK);
  } catch {
    throw new RetinaFaceError(`${what} directory is not writable`, { file: dir, code: 'EACCES' });
  }
}

async function plan(args: ParsedArgs, inputs: string[]): Promise<Plan> {
  const savepath = stringOption(args, 'savepath');
  if (inputs.length === 1 && !(savepath !== undefined && (await fs.stat(savepath).catch(() => null))?.isDirectory())) {
    const out = savepath ?? DEFAULT_SAVEPATH;
    formatFromPath(out); // refuses an unknown extension before any work
    await writableDir(path.dirname(path.resolve(out)), 'the savepath');
    return { inputs, outputs: [out] };
  }
  if (savepath === undefined) return { inputs, outputs: inputs.map(() => undefined) };
  if (!(await fs.stat(savepath).catch(() => null)) && IMAGE_EXTENSIONS.has(path.extname(savepath).toLowerCase())) {
    throw new RetinaFaceError(`with ${inputs.length} inputs the savepath must be a directory (one drawn image per input), not an image name`, { file: savepath, code: 'ENOTDIR' });
  }
  await writableDir(savepath, 'the savepath');
  const outputs = inputs.map((i) => {
    const ext = path.extname(i).toLowerCase();
    return path.join(savepath, IMAGE_EXTENSIONS.has(ext) ? path.basename(i) : `${path.basename(i)}.png`);
  });
  const seen = new Map<string, string>();
  const writeJson = flag(args, 'write_json');
  outputs.forEach((o, i) => {
    // the drawn image, and with -w its JSON (a.jpg and a.png share a.json)
    for (const name of writeJson ? [o, jsonPath(o)] : [o]) {
      const other = seen.get(name);
      if (other !== undefined) throw new RetinaFaceError(`${other} and ${inputs[i]} would both be saved under this name`, { file: name, code: 'EEXIST' });
      seen.set(name, inputs[i]!);
    }
  });
  return { inputs, outputs };
}

/** A float32 as NumPy prints it: the shortest decimal that reads back to the same float32. */
export function float32Text(x: number): string {
  for (let p = 1; p < 9; p++) {
    const v = Number(x.toPrecision(p));
    if (Math.fround(v) === x) return String(v);
  }
  return String(Number(x.toPrecision(9)));
}

/**
 * The reference's test_widerface.py output for one image: its name, the count, then per face
 * "x y w h score " with x = int(x1), w = int(x2) - int(x1) (truncated, as Python's int()).
 */
export function widerText(file: string, faces: readonly Face[]): string {
  const stem = path.basename(file).replace(/\.[^.]*$/, '');
  const lines = faces.map((f) => {
    const [x1, y1, x2, y2] = f.box.map(Math.trunc) as [number, number, number, number];
    return `${x1} ${y1} ${x2 - x1} ${y2 - y1} ${float32Text(f.score)} `;
  });
  return `${stem}\n${faces.length}\n${lines.map((l) => `${l}\n`).join('')}`;
}

/** Where --wider_out puts an image's predictions: DIR/<the image's folder>/<its name>.txt. */
export function widerPath(dir: string, file: string): string {
  return path.join(dir, path.basename(path.dirname(path.resolve(file))), `${path.basename(file).replace(/\.[^.]*$/, '')}.txt`);
}

/** Where --write_json puts the faces of a drawn image: the same name, .json. */
function jsonPath(out: string): string {
  return out.replace(/\.[^./\\]*$/, '') + '.json';
}

/** JSON with two-space indents, but arrays of numbers on one line ([x1, y1, x2, y2], [[x, y], ...]). */
export function compactJson(value: unknown): string {
  let text = JSON.stringify(value, null, 2);
  // arrays of numbers onto one line, then arrays of such one-line arrays
  text = text.replace(/\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]/g, (_, inner: string) => `[${inner.replace(/,\s*/g, ', ')}]`);
  text = text.replace(/\[\s*(\[[^\[\]\n]*\](?:,\s*\[[^\[\]\n]*\])*)\s*\]/g, (_, inner: string) => `[${inner.replace(/\],\s*\[/g, '], [')}]`);
  return text + '\n';
}

function facesJson(file: string, d: DetectionSummary, faces: Face[], arch: Arch, backend: string, threshold: number): string {
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  return compactJson({
    image: file,
    width: d.width,
    height: d.height,
    arch,
    backend,
    vis_thres: threshold,
    // multi-scale and flip testing: the network runs that were merged
    ...(d.runs.length > 1 || d.runs[0]!.tiles > 1 ? {
      runs: d.runs.map((r) => ({
        scale: Number(r.scale.toFixed(6)), flip: r.flip, width: r.inputWidth, height: r.inputHeight,
        ...(r.tiles > 1 ? { tiles: r.tiles, tile_width: r.tileWidth, tile_height: r.tileHeight } : {}), ...(r.coarse ? { coarse: true } : {}),
      })),
    } : {}),
    faces: faces.map((f) => ({ score: round(f.score), box: f.box.map(round), landmarks: f.landmarks.map((p) => p.map(round)) })),
  });
}

/** ailia-models' retinaface.py JSON: a list of { bbox_xyxy, prob, landmarks: [[x, y] x5] }. */
function ailiaJson(faces: Face[]): string {
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  return compactJson(faces.map((f) => ({ bbox_xyxy: f.box.map(round), prob: round(f.score), landmarks: f.landmarks.map((p) => p.map(round)) })));
}

/** e.g. "cpu-simd, 2 threads, fused multiply-add (auto chose cpu-simd: WebAssembly SIMD compiles here)". */
export function describeBackend(detector: RetinaFace): string {
  const be = detector.backend as { threads?: unknown; fma?: unknown };
  const threads = typeof be.threads === 'number' ? `, ${be.threads} thread${be.threads === 1 ? '' : 's'}` : '';
  const fma = be.fma === true ? ', fused multiply-add' : '';
  return `${detector.backendName}${threads}${fma}${detector.backendWhy === 'requested' ? '' : ` (${detector.backendWhy})`}`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * The reference's thresholds and the per-image options as --flags give them (undefined: not
 * given, the library's default applies), shared by detect and --video.
 */
export function thresholdOptions(args: ParsedArgs) {
  const o = {
    confidenceThreshold: numberOption(args, 'confidence_threshold', { min: 0, max: 1 }),
    topK: numberOption(args, 'top_k', { min: 1, integer: true }),
    nmsThreshold: numberOption(args, 'nms_threshold', { min: 0, max: 1 }),
    keepTopK: numberOption(args, 'keep_top_k', { min: 1, integer: true }),
    rescale: numberOption(args, 'rescale', { min: 1 }),
    visThreshold: numberOption(args, 'vis_thres', { min: 0, max: 1 }),
    clip: flag(args, 'clip') ? true : undefined,
    scales: scalesOption(args),
    flip: flag(args, 'flip') ? true : undefined,
    merge: stringOption(args, 'merge') as MergeMode | undefined,
    maxNetworkPixels: numberOption(args, 'max_network_pixels', { min: MIN_NETWORK_PIXELS, integer: true }),
    tileOverlap: numberOption(args, 'tile_overlap', { min: MIN_TILE_OVERLAP, integer: true }),
  };
  if (o.tileOverlap !== undefined && o.maxNetworkPixels === undefined) throw new UsageError('--tile_overlap is the overlap of --max_network_pixels\'s tiles: add --max_network_pixels');
  try {
    resolveTileOptions({ maxNetworkPixels: o.maxNetworkPixels, tileOverlap: o.tileOverlap });
  } catch (e) {
    throw new UsageError((e as Error).message.replace('invalid option tileOverlap', '--tile_overlap').replace('invalid option maxNetworkPixels', '--max_network_pixels'));
  }
  return { ...o, defined: Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) };
}

/** --scales 1,2,3: comma-separated numbers in [1/64, 16], each once. */
function scalesOption(args: ParsedArgs): number[] | undefined {
  const raw = stringOption(args, 'scales');
  if (raw === undefined) return undefined;
  const parts = raw.split(',').map((t) => t.trim());
  const values = parts.map(Number);
  if (parts.some((t) => t === '') || !values.every((v) => Number.isFinite(v) && v >= MIN_SCALE && v <= MAX_SCALE) || values.length > 16) {
    throw new UsageError(`--scales must be up to 16 comma-separated numbers in [1/64, ${MAX_SCALE}] (e.g. 1,2), got ${raw}`);
  }
  if (new Set(values).size !== values.length) throw new UsageError(`--scales lists a scale twice: ${raw}`);
  return values;
}

/** The detector the --arch, --backend, --weights and --threads flags ask for (detect, align, --video). */
export function loadDetector(args: ParsedArgs, progress: (line: string) => void): Promise<RetinaFace> {
  const weights = stringOption(args, 'weights');
  const threads = numberOption(args, 'threads', { min: 1, max: 256, integer: true });
  return RetinaFace.load({
    arch: (stringOption(args, 'arch') ?? 'mobile0.25') as Arch,
    backend: (stringOption(args, 'backend') ?? DEFAULT_BACKEND) as BackendSpec,
    onProgress: progress,
    ...(weights === undefined ? {} : { weights }),
    ...(threads === undefined ? {} : { threads }),
  });
}

/**
 * Runs `work` on each input in turn: its result line on stdout (and `[i/n]` on stderr for
 * several, unless quiet); an input's RetinaFaceError is its one line on stderr and the others
 * still run; the backend line comes once, before the first result; the detector is disposed at
 * the end. Exit code 1 when any input failed.
 */
export async function forEachInput(inputs: string[], detector: RetinaFace, io: Io, quiet: boolean, work: (file: string, index: number) => Promise<string>): Promise<number> {
  let announced = false;
  let failed = 0;
  try {
    for (let i = 0; i < inputs.length; i++) {
      const file = inputs[i]!;
      try {
        const line = await work(file, i);
        if (!announced && !quiet) io.err(`retinaface: backend ${describeBackend(detector)}`);
        announced = true;
        io.out(line);
        if (inputs.length > 1 && !quiet) io.err(`[${i + 1}/${inputs.length}] ${line}`);
      } catch (e) {
        if (!(e instanceof RetinaFaceError)) throw e;
        failed++;
        io.err(`retinaface: ${e.message.replace(/\s*\n\s*/g, ' ')}`);
      }
    }
  } finally {
    detector.dispose();
  }
  if (failed > 0 && inputs.length > 1) io.err(`retinaface: ${failed} of ${inputs.length} inputs failed`);
  return failed > 0 ? 1 : 0;
}

/**
 * The largest streamed image without --max_pixels: a gigapixel (about 1000 tiles of 1 MP). A
 * streamed image is never whole in memory, so the default whole-image limit does not apply; this
 * one bounds the time a header can ask for (jpeg_rows.ts already refuses more pixels than the
 * file's bytes can code).
 */
const DEFAULT_MAX_STREAM_PIXELS = 1_000_000_000;

/** Rows drawn and written at a time when a streamed image is drawn (a 16384-px-wide band: 12.6 MB). */
const DRAW_BAND_ROWS = 256;

/**
 * With --max_network_pixels: the file's bytes (read once here, detected from them after) and
 * whether it goes the streamed way (undefined without tiling: the file is not read here). Streamed: one run at the image's
 * own size (no --scales, --flip, --rescale), a JPEG that streams (jpeg_rows.ts: baseline, 1 or 3
 * components, one scan) without an EXIF rotation, and more pixels than the budget. Such an image
 * is never decoded whole, so --max_pixels's default (which guards whole decodes) gives way to
 * DEFAULT_MAX_STREAM_PIXELS.
 */
export async function streamedJpeg(file: string, o: { maxNetworkPixels?: number; maxPixels?: number; scales?: number[]; flip?: boolean; rescale?: number }): Promise<{ bytes: Uint8Array; streamed: boolean } | undefined> {
  if (o.maxNetworkPixels === undefined) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw new RetinaFaceError(describeFsError(e), { file, code: 'EREAD' });
  }
  if (o.scales !== undefined || o.flip === true || (o.rescale !== undefined && o.rescale !== 1)) return { bytes, streamed: false };
  const info = probeImage(bytes, file, { maxPixels: Number.MAX_SAFE_INTEGER }); // the header only: the limits follow
  const pixels = info.width * info.height;
  if (pixels <= o.maxNetworkPixels) return { bytes, streamed: false };
  const whyWhole = info.format !== 'jpeg' ? 'it is a PNG' : info.orientation !== 1 ? `its EXIF orientation is ${info.orientation}` : jpegStreamRefusal(bytes, file);
  if (whyWhole === undefined) {
    const limit = o.maxPixels ?? DEFAULT_MAX_STREAM_PIXELS;
    if (pixels > limit) {
      throw new RetinaFaceError(`image is ${info.width}x${info.height} (${(pixels / 1e6).toFixed(1)} megapixels), over ${o.maxPixels === undefined ? 'the streamed images\' limit of' : '--max_pixels'} ${limit}: pass --max_pixels ${pixels} to allow it`, { file, code: 'ETOOBIG' });
    }
    return { bytes, streamed: true };
  }
  // decoded whole: the whole-image limit applies, said in the CLI's words
  const limit = o.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (info.width * info.height > limit) {
    throw new RetinaFaceError(`image is ${info.width}x${info.height} (${(info.width * info.height / 1e6).toFixed(1)} megapixels), over --max_pixels ${limit}; ` +
      `it cannot be read in bands (${whyWhole}), so it is decoded whole (about 32 bytes a pixel): pass --max_pixels ${info.width * info.height} to allow it`, { file, code: 'ETOOBIG' });
  }
  return { bytes, streamed: false };
}

/** A progress line on stderr every 5 s of a tiled run. */
function tileProgress(file: string, io: Io): (done: number, total: number) => void {
  let last = Date.now();
  return (done, total) => {
    if (done < total && Date.now() - last >= 5000) {
      last = Date.now();
      io.err(`retinaface: ${file}: tile ${done} of ${total}`);
    }
  };
}

async function runDetect(args: ParsedArgs, io: Io): Promise<number> {
  if (args.options.has('video')) return (await import('./video.js')).runVideo(args, io);
  const given = args.options.get('input') as string[] | undefined;
  if (given === undefined) throw new UsageError('--input IMAGE is required');
  const thresholds = thresholdOptions(args);
  const maxPixels = numberOption(args, 'max_pixels', { min: 1, integer: true });
  const options = { ...thresholds, maxPixels };
  const visThreshold = options.visThreshold ?? DEFAULT_DETECT_OPTIONS.visThreshold;
  const count = numberOption(args, 'benchmark_count', { min: 1, integer: true }) ?? 5;
  const benchmark = flag(args, 'benchmark');
  const quiet = flag(args, 'quiet');
  const rawFile = stringOption(args, 'raw');
  const widerOut = stringOption(args, 'wider_out');
  const defined = { ...thresholds.defined, ...(maxPixels === undefined ? {} : { maxPixels }) };

  // flags that would do nothing: said, not ignored
  if (stringOption(args, 'json_format') !== undefined && !flag(args, 'write_json')) throw new UsageError('--json_format chooses the layout of -w/--write_json: add -w');
  if (args.options.has('benchmark_count') && !flag(args, 'benchmark')) throw new UsageError('-c/--benchmark_count is the number of -b/--benchmark runs: add -b');
  if (args.options.has('merge') && !args.options.has('scales') && !flag(args, 'flip')) throw new UsageError('--merge chooses how the runs of --scales/--flip merge: add --scales or --flip');
  if (args.options.has('rescale') && (args.options.has('scales') || flag(args, 'flip'))) throw new UsageError('--rescale and --scales/--flip together: --rescale R is --scales 1/R; use one');
  const inputs = await expandInputs(given);
  if (flag(args, 'write_json') && inputs.length > 1 && stringOption(args, 'savepath') === undefined) {
    throw new UsageError(`-w/--write_json writes beside each drawn image, and ${inputs.length} inputs are drawn only with --savepath DIR`);
  }
  if (rawFile !== undefined && inputs.length !== 1) throw new UsageError('--raw takes exactly one input image');
  if (rawFile !== undefined && options.maxNetworkPixels !== undefined) throw new UsageError('--raw writes one network pass\'s outputs, and --max_network_pixels may split it into tiles: use one');
  const { outputs } = await plan(args, inputs);
  if (widerOut !== undefined) {
    await writableDir(widerOut, 'the --wider_out');
    const seen = new Map<string, string>();
    for (const i of inputs) {
      const w = widerPath(widerOut, i);
      if (seen.has(w)) throw new RetinaFaceError(`${seen.get(w)} and ${i} would both be written under this name`, { file: w, code: 'EEXIST' });
      seen.set(w, i);
    }
  }
  for (let i = 0; i < inputs.length; i++) {
    const o = outputs[i];
    if (o !== undefined && path.resolve(o) === path.resolve(inputs[i]!)) {
      throw new RetinaFaceError('the savepath is the input itself; refusing to overwrite it', { file: o, code: 'EEXIST' });
    }
  }

  const arch = (stringOption(args, 'arch') ?? 'mobile0.25') as Arch;
  const progress = quiet ? () => undefined : (line: string) => io.err(line);
  const detector = await loadDetector(args, progress);
  const backendLine = describeBackend(detector);
  return forEachInput(inputs, detector, io, quiet, async (file, i) => {
    const read = await streamedJpeg(file, options);
    const streamed = read?.streamed === true ? read.bytes : undefined;
    const out = outputs[i];
    if (streamed !== undefined && out !== undefined && formatFromPath(out) === 'jpeg') {
      // decided before the run: a .jpg is drawn on the whole image, which a streamed one may be too large to hold
      const { width, height } = probeImage(streamed, file, { maxPixels: Number.MAX_SAFE_INTEGER });
      const limit = options.maxPixels ?? DEFAULT_MAX_PIXELS;
      if (width * height > limit) {
        throw new RetinaFaceError(`drawing ${width}x${height} into a .jpg needs the whole image in memory, over --max_pixels ${limit}: use a .png savepath (drawn band by band)`, { file: out, code: 'ETOOBIG' });
      }
    }
    const onTile = quiet ? undefined : tileProgress(file, io);
    // the raw outputs only for --raw: otherwise read into the detector's reused arrays
    const raw = rawFile !== undefined;
    const detectOnce = async () => streamed === undefined ? detector.detectDetailed(read?.bytes ?? file, { ...defined, onTile, raw }, file)
      : detector.detectRows(jpegRows(streamed, file), { ...defined, onTile, raw, maxPixels: options.maxPixels ?? DEFAULT_MAX_STREAM_PIXELS }, file);
    let d = await detectOnce();
    if (!quiet && d.runs.some((r) => r.tiles === 1 && !r.coarse && r.proposals >= (options.topK ?? DEFAULT_DETECT_OPTIONS.topK))) {
      io.err(`retinaface: ${file}: a network run reached its --top_k of ${options.topK ?? DEFAULT_DETECT_OPTIONS.topK} candidates: a crowd this large may lose faces; raise --top_k or tile it (--max_network_pixels)`);
    }
    if (benchmark) {
      const runs: DetectionSummary[] = [];
      for (let r = 0; r < count; r++) runs.push(await detectOnce());
      const stages = ['decode', 'preprocess', 'forward', 'postprocess', 'total'] as const;
      const tiles = (r: DetectionSummary['runs'][number]) => (r.tiles > 1 ? ` in ${r.tiles} tiles of up to ${r.tileWidth}x${r.tileHeight}` : '');
      const network = d.runs.length === 1 ? `network ${d.inputWidth}x${d.inputHeight}${tiles(d.runs[0]!)}`
        : `${d.runs.length} network runs (${d.runs.map((r) => `${r.inputWidth}x${r.inputHeight}${r.flip ? ' flipped' : ''}${tiles(r)}`).join(', ')})`;
      io.out(`${file}: ${d.width}x${d.height} -> ${network}, ${backendLine}, ` +
        `median of ${count} runs after one warm-up: ` + stages.map((s) => `${s} ${median(runs.map((r) => r.timings[s])).toFixed(1)} ms`).join(', '));
      d = runs[runs.length - 1]!;
    }
    const shown = d.faces; // score >= visThreshold
    if (out !== undefined && streamed !== undefined && formatFromPath(out) === 'png') {
      // drawn band by band from a second streamed decode: the image is never whole in memory
      const src = jpegRows(streamed, file);
      const buf = new Uint8Array(DRAW_BAND_ROWS * 3 * src.width);
      await writePngBands(out, src.width, src.height, DRAW_BAND_ROWS, (y, rows) => {
        src.read(buf, rows);
        return drawDetections({ width: src.width, height: rows, data: buf.subarray(0, 3 * rows * src.width) }, d.faces, visThreshold, y);
      });
    } else if (out !== undefined) {
      const img = detector.decode(await fs.readFile(file), options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels }, file);
      await writeFileAtomic(out, encodeImage(drawDetections(img, d.faces, visThreshold), out));
    }
    if (out !== undefined) {
      if (flag(args, 'write_json')) {
        const json = jsonPath(out);
        const text = stringOption(args, 'json_format') === 'ailia' ? ailiaJson(shown) : facesJson(file, d, shown, arch, detector.backend.name, visThreshold);
        await writeFileAtomic(json, new TextEncoder().encode(text));
      }
    }
    if (widerOut !== undefined) {
      const w = widerPath(widerOut, file);
      await fs.mkdir(path.dirname(w), { recursive: true });
      await writeFileAtomic(w, new TextEncoder().encode(widerText(file, d.candidates)));
    }
    if (rawFile !== undefined) {
      if (!('raw' in d)) throw new Error('internal: --raw asked for the raw outputs and the detection has none');
      await writeTensorFile(rawFile, [['loc', d.raw.loc], ['conf', d.raw.conf], ['landms', d.raw.landms]],
        { arch, input: file, input_height: String(d.inputHeight), input_width: String(d.inputWidth) });
    }
    return `${file}: ${shown.length} face${shown.length === 1 ? '' : 's'} (score >= ${visThreshold})${out ? ` -> ${out}` : ''}`;
  });
}
