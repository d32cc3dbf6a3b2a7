// `retinaface --video IN --savepath OUT [--write_json] [-b] [--ffmpeg PATH]` (ailia's -v/--video):
// faces found and tracked frame by frame, drawn with their ids into a new video.
//
//   ffprobe IN            size, frame rate, frame count, rotation (before any work)
//   ffmpeg -i IN ... -f rawvideo -pix_fmt rgb24 pipe:1          the decoder: frames on a pipe
//     -> one frame buffer (W * H * 3 bytes), reused       read
//     -> detector.detectDetailed                          preprocess, forward, postprocess
//     -> tracker.update (createTracker at the video's fps) track
//     -> drawTrackedFaces (a copy)                        draw
//   ffmpeg -f rawvideo -i pipe:0 ... OUT's temp file      encode: the encoder's pipe
//
// Memory is bounded by a frame or two whatever the length: the decoder writes into a pipe that
// we read one frame at a time (when we are busy, the pipe fills and ffmpeg waits), and we wait
// for the encoder's pipe to drain before the next frame. ffmpeg is the system binary, found on
// PATH or given by --ffmpeg (ffprobe beside it, else on PATH); nothing is bundled.
//
// The output has the input's frame count (every decoded frame is one output frame: -vsync
// passthrough, which rawvideo output would otherwise not be) and frame rate (the average one,
// avg_frame_rate, so that a variable-rate input keeps its duration). Frames come out upright:
// ffmpeg applies the rotation metadata when decoding, and the output has none. No audio.
//
// Nothing half-written is left: the video and its JSON are written to temporary files beside
// OUT and renamed at the end; any failure (ffmpeg exiting midway, a truncated input, an
// unwritable directory, Ctrl-C) removes them.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, promises as fs, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { DEFAULT_DETECT_OPTIONS } from '../detect/postprocess.js';
import { RetinaFaceError } from '../errors.js';
import { DEFAULT_MAX_PIXELS } from '../image/decode.js';
import { drawTrackedFaces } from '../image/draw.js';
import type { Arch } from '../model/config.js';
import { createTracker, type TrackedFace } from '../track/tracker.js';
import { describeFsError } from '../weights/files.js';
import { printable } from '../printable.js';
import { flag, numberOption, stringOption, UsageError, type Io, type ParsedArgs } from './args.js';
import { describeBackend, loadDetector, thresholdOptions } from './detect.js';

export const FFMPEG_MISSING = 'ffmpeg not found: install it (apt-get install ffmpeg) or pass --ffmpeg PATH';

/** Extensions written as H.264 in yuv420p (what every player reads); others get ffmpeg's default codec for their format. */
const H264_EXTENSIONS = new Set(['.mp4', '.m4v', '.mov', '.mkv']);
/** Detect's options that mean nothing for a video. */
const IMAGE_ONLY_OPTIONS = ['input', 'raw', 'json_format', 'max_pixels', 'benchmark_count'];
/** A progress line at most this often (stderr, not with -q). */
const PROGRESS_EVERY_MS = 2000;
/** ffprobe reads headers only: a minute is far beyond any file's, and stops a hang on a FIFO. */
const PROBE_TIMEOUT_MS = 60_000;
/** stderr lines of an ffmpeg process kept, and how many of them an error message quotes (the last ones). */
const STDERR_LINES_KEPT = 20;
const MESSAGES_SHOWN = 4;

// ---------------------------------------------------------------- finding ffmpeg

async function isExecutable(file: string): Promise<boolean> {
  try {
    const s = await fs.stat(file);
    if (!s.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `name` as given when it has a directory part, else the first executable of that name on PATH. */
async function findExecutable(name: string): Promise<string | undefined> {
  if (name.includes('/') || name.includes(path.sep)) return (await isExecutable(name)) ? path.resolve(name) : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, name);
    if (await isExecutable(file)) return file;
  }
  return undefined;
}

export interface FfmpegTools {
  ffmpeg: string;
  ffprobe: string;
}

/**
 * ffmpeg from `given` (a path, or a name looked up on PATH; default 'ffmpeg'), and the ffprobe
 * that comes with it: beside it (its name with ffmpeg -> ffprobe, so ffmpeg-6 finds ffprobe-6),
 * else on PATH.
 */
export async function findFfmpeg(given?: string): Promise<FfmpegTools> {
  const ffmpeg = await findExecutable(given ?? 'ffmpeg');
  if (ffmpeg === undefined) {
    throw new RetinaFaceError(given === undefined ? FFMPEG_MISSING : FFMPEG_MISSING.replace('not found', `not found at ${given}`), { code: 'ENOFFMPEG' });
  }
  const sibling = path.join(path.dirname(ffmpeg), path.basename(ffmpeg).replace(/ffmpeg/i, 'ffprobe'));
  const ffprobe = (sibling !== ffmpeg && (await isExecutable(sibling)) ? sibling : undefined) ?? (await findExecutable('ffprobe'));
  if (ffprobe === undefined) {
    throw new RetinaFaceError(`ffprobe not found beside ${ffmpeg} or on PATH: it comes with ffmpeg (apt-get install ffmpeg)`, { code: 'ENOFFMPEG' });
  }
  return { ffmpeg, ffprobe };
}

// ---------------------------------------------------------------- ffmpeg's messages

/** ffmpeg's stderr line without its "[mov,mp4,... @ 0x55d1...] " context and "FILE: " prefix. */
function cleanFfmpegLine(line: string, file?: string): string {
  let s = line.replace(/^\[[^\]]* @ 0x[0-9a-f]+\]\s*/i, '').trim();
  if (file !== undefined && s.startsWith(`${file}: `)) s = s.slice(file.length + 2);
  return s;
}

/** The last few distinct meaningful lines of ffmpeg's stderr, cleaned, in order. */
function ffmpegMessages(lines: readonly string[], file?: string): string[] {
  const said = lines.map((l) => cleanFfmpegLine(l, file)).filter((l) => l !== '' && !/^Last message repeated/.test(l));
  return [...new Set(said)].slice(-MESSAGES_SHOWN);
}

/** A child process's stderr, its last lines kept; `exited` settles once, with the exit or the spawn error. */
class Tool {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
  private readonly lines: string[] = [];
  private partial = '';
  done = false;

  constructor(bin: string, args: string[], stdin: 'pipe' | 'ignore', stdout: 'pipe' | 'ignore') {
    this.child = spawn(bin, args, { stdio: [stdin, stdout, 'pipe'] });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split(/\r?\n|\r/);
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      if (this.lines.length > STDERR_LINES_KEPT) this.lines.splice(0, this.lines.length - STDERR_LINES_KEPT);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => { this.done = true; resolve({ code: null, signal: null, error }); });
      this.child.once('close', (code, signal) => { this.done = true; resolve({ code, signal }); });
    });
  }

  stderr(): string[] {
    return this.partial === '' ? [...this.lines] : [...this.lines, this.partial];
  }

  /** Ends it now (SIGKILL: it holds nothing we want) and waits for it. */
  async kill(): Promise<void> {
    if (!this.done) this.child.kill('SIGKILL');
    await this.exited;
  }
}

function describeExit(r: { code: number | null; signal: NodeJS.Signals | null; error?: Error }): string {
  if (r.error !== undefined) return `could not start (${describeFsError(r.error)})`;
  return r.signal !== null ? `was killed (${r.signal})` : `exited with code ${r.code}`;
}

// ---------------------------------------------------------------- probing

export interface VideoInfo {
  /** the size of the decoded frames: the stream's, swapped when it is rotated by 90 or 270 degrees */
  width: number;
  height: number;
  /** the average frame rate, as ffmpeg writes it ("30000/1001") and as a number */
  rate: string;
  fps: number;
  /** the frame count the container announces (nb_frames), when it does */
  frames: number | undefined;
  /** nb_frames, else duration x fps: for the progress line */
  expectedFrames: number | undefined;
  rotation: number;
  codec: string;
  format: string;
  /** the stream's index in the file (ffmpeg's -map 0:index) */
  index: number;
}

/** A stream of ffprobe's answer: the types ffprobe writes, which the reader checks rather than trusts. */
interface ProbeStream {
  index?: number;
  codec_type?: unknown;
  codec_name?: unknown;
  width?: number;
  height?: number;
  avg_frame_rate?: unknown;
  r_frame_rate?: unknown;
  nb_frames?: unknown;
  duration?: unknown;
  disposition?: { attached_pic?: unknown } | null;
  tags?: { rotate?: unknown } | null;
  side_data_list?: ({ rotation?: unknown } | null)[];
}

/** ffmpeg's "30000/1001": a positive finite frame rate, or undefined. */
function parseRate(r: string | undefined): number | undefined {
  const m = /^(\d{1,15})\/(\d{1,15})$/.exec(r ?? '');
  if (m === null) return undefined;
  const fps = Number(m[1]) / Number(m[2]);
  return fps > 0 && Number.isFinite(fps) ? fps : undefined;
}

async function startsWithFtyp(file: string): Promise<boolean> {
  const fh = await fs.open(file, 'r');
  try {
    const head = new Uint8Array(8);
    await fh.read(head, 0, 8, 0);
    return String.fromCharCode(...head.subarray(4, 8)) === 'ftyp';
  } finally {
    await fh.close();
  }
}

/** Runs ffprobe on `file` and says what the first video stream is; a RetinaFaceError naming the file otherwise. */
export async function probeVideo(ffprobe: string, file: string): Promise<VideoInfo> {
  const args = ['-v', 'error', '-show_entries',
    'stream=index,codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames,duration:stream_disposition=attached_pic:' +
    'stream_tags=rotate:stream_side_data=rotation:format=format_name,duration', '-of', 'json', '--', file];
  const tool = new Tool(ffprobe, args, 'ignore', 'pipe');
  let out = '';
  tool.child.stdout!.setEncoding('utf8');
  tool.child.stdout!.on('data', (c: string) => { out += c; });
  const timer = setTimeout(() => tool.child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
  const r = await tool.exited;
  clearTimeout(timer);
  if (r.error !== undefined) throw new RetinaFaceError(`ffprobe (${ffprobe}) ${describeExit(r)}`, { code: 'ENOFFMPEG' });
  if (r.signal === 'SIGKILL') throw new RetinaFaceError(`ffprobe did not answer within ${PROBE_TIMEOUT_MS / 1000} s`, { file, code: 'EVIDEO' });
  if (r.code !== 0) {
    const said = ffmpegMessages(tool.stderr(), file);
    // An MP4 (its first box is 'ftyp') whose index (the moov box, written last) is missing.
    if (said.some((l) => /moov atom not found/.test(l)) && (await startsWithFtyp(file))) {
      throw new RetinaFaceError('truncated, or not finished writing: an MP4 without its index (moov atom not found)', { file, code: 'EVIDEO' });
    }
    throw new RetinaFaceError(`not a video ffmpeg can read: ${said.join('; ') || describeExit(r)}`, { file, code: 'EVIDEO' });
  }
  return videoInfoFromProbe(out, file);
}

/** A field of ffprobe's answer as printable text (it echoes the file's own metadata). */
const shown = (v: unknown): string => printable(JSON.stringify(v)?.slice(0, 40) ?? 'nothing');

/**
 * What ffprobe's JSON answer (`-of json`, the fields probeVideo asks for) says of the first video
 * stream, checked: a frame size of whole pixels within DEFAULT_MAX_PIXELS (the frame buffers are
 * width x height x 3 bytes), a finite positive frame rate, counts that are safe integers. The
 * answer echoes what the file declares, so it is read as untrusted (test/fuzz: video-probe).
 */
export function videoInfoFromProbe(out: string, file: string): VideoInfo {
  const fail = (why: string): never => {
    throw new RetinaFaceError(why, { file, code: 'EVIDEO' });
  };
  let parsed: { streams?: unknown; format?: { format_name?: unknown; duration?: unknown } | null } | null;
  try {
    parsed = JSON.parse(out) as typeof parsed;
  } catch {
    return fail(`ffprobe's answer is not JSON: ${JSON.stringify(out.slice(0, 60))}`);
  }
  if (typeof parsed !== 'object' || parsed === null) return fail(`ffprobe's answer is not an object: ${shown(parsed)}`);
  const streams = (Array.isArray(parsed.streams) ? parsed.streams : []).filter((x): x is ProbeStream => typeof x === 'object' && x !== null);
  const formatName = parsed.format?.format_name;
  const format = typeof formatName === 'string' ? printable(formatName) : '?';
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (video === undefined) {
    const kinds = streams.map((s) => (s.codec_type === 'video' ? 'cover picture' : typeof s.codec_type === 'string' ? printable(s.codec_type) : 'unknown'));
    return fail(`no video stream (${kinds.length === 0 ? 'no streams at all' : `only ${[...new Set(kinds)].join(', ')}`})`);
  }
  // Strings from the file go into messages and the progress line: escaped (a codec name could hold a newline).
  const codec = typeof video.codec_name === 'string' ? printable(video.codec_name) : 'unknown';
  if (format === 'image2' || format.endsWith('_pipe')) fail(`is a still image (${codec}), not a video: use --input for images`);
  const sideRotation = Array.isArray(video.side_data_list) ? video.side_data_list.find((d) => typeof d?.rotation === 'number')?.rotation : undefined;
  const declared = typeof sideRotation === 'number' ? sideRotation : Number(video.tags?.rotate ?? 0);
  // Whole degrees (ffmpeg writes them so); 90 and 270 swap the frame's width and height.
  const rotation = Number.isInteger(declared) ? ((declared % 360) + 360) % 360 : 0;
  const [w, h] = [video.width, video.height];
  if (!(Number.isInteger(w) && Number.isInteger(h) && w! > 0 && h! > 0)) fail(`the video stream has no frame size (codec ${codec}, ${shown(w)} x ${shown(h)})`);
  if (w! * h! > DEFAULT_MAX_PIXELS) {
    throw new RetinaFaceError(`frames of ${w}x${h} are ${((w! * h!) / 1e6).toFixed(1)} megapixels, over the limit of ${(DEFAULT_MAX_PIXELS / 1e6).toFixed(1)} megapixels`,
      { file, code: 'ETOOBIG' });
  }
  const avg = typeof video.avg_frame_rate === 'string' ? video.avg_frame_rate : undefined;
  const r = typeof video.r_frame_rate === 'string' ? video.r_frame_rate : undefined;
  const rate = parseRate(avg) !== undefined ? avg! : r;
  const fps = parseRate(rate);
  if (fps === undefined) return fail(`the video stream has no frame rate (avg ${shown(avg)}, r ${shown(r)})`);
  const nb = Number(video.nb_frames);
  const frames = Number.isSafeInteger(nb) && nb > 0 ? nb : undefined;
  const duration = Number(video.duration ?? parsed.format?.duration);
  const estimate = duration > 0 ? Math.round(duration * fps) : NaN;
  const turned = rotation === 90 || rotation === 270;
  return {
    width: turned ? h! : w!, height: turned ? w! : h!, rate: rate!, fps, frames,
    expectedFrames: frames ?? (Number.isSafeInteger(estimate) && estimate > 0 ? estimate : undefined),
    rotation, codec: typeof video.codec_name === 'string' ? codec : '?', format, index: Number.isSafeInteger(video.index) && video.index! >= 0 ? video.index! : 0,
  };
}

// ---------------------------------------------------------------- streaming

/**
 * The frames of a raw rgb24 stream, `frameBytes` each, in one buffer reused for every frame: the
 * consumer is done with a frame when it asks for the next. A trailing partial frame is reported
 * through `partial` (the stream ended inside it).
 */
async function* readFrames(stream: Readable, frameBytes: number, partial: { bytes: number }): AsyncGenerator<Uint8Array> {
  const frame = new Uint8Array(frameBytes);
  let filled = 0;
  for await (const chunk of stream as AsyncIterable<Uint8Array>) {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(frameBytes - filled, chunk.length - off);
      frame.set(chunk.subarray(off, off + n), filled);
      filled += n;
      off += n;
      if (filled === frameBytes) {
        yield frame;
        filled = 0;
      }
    }
  }
  partial.bytes = filled;
}

/** Writes to a pipe, waiting for it to drain when it is full; rejects as soon as `failed` does. */
async function writeAll(stream: Writable, data: Uint8Array, failed: Promise<never>): Promise<void> {
  if (stream.write(data)) return;
  await Promise.race([new Promise<void>((resolve) => stream.once('drain', resolve)), failed]);
}

function tempBeside(file: string, ext: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp${ext}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

/**
 * One frame of the JSON, on one line: each face's track id with the detector's own numbers for
 * that frame (the drawing shows the tracker's smoothed box and landmarks; data stays measured).
 */
function frameJson(index: number, time: number, faces: readonly TrackedFace[]): string {
  return JSON.stringify({
    index, time: Math.round(time * 1e6) / 1e6,
    faces: faces.map((f) => ({ id: f.id, score: round4(f.raw.score), box: f.raw.box.map(round4), landmarks: f.raw.landmarks.map((p) => p.map(round4)) })),
  });
}

// ---------------------------------------------------------------- the command

/** OUT (and OUT.json when written) can be written, and neither is the input. */
async function checkSavepath(out: string, json: string | undefined, input: string): Promise<void> {
  const s = await fs.stat(out).catch(() => null);
  if (s?.isDirectory()) throw new RetinaFaceError('the savepath is a directory: give the video\'s file name (e.g. out.mp4 in it)', { file: out, code: 'EISDIR' });
  const real = async (p: string) => fs.realpath(p).catch(() => path.resolve(p));
  const inputReal = await real(input);
  if ((await real(out)) === inputReal || (json !== undefined && (await real(json)) === inputReal)) {
    throw new RetinaFaceError('the savepath is the input itself; refusing to overwrite it', { file: out, code: 'EEXIST' });
  }
  const dir = path.dirname(path.resolve(out));
  const d = await fs.stat(dir).catch((e: unknown) => {
    const code = (e as { code?: string }).code;
    throw new RetinaFaceError(code === 'ENOENT' ? 'the savepath directory does not exist' : describeFsError(e), { file: out, code: code ?? 'ENOENT' });
  });
  if (!d.isDirectory()) throw new RetinaFaceError(`${path.dirname(out)} is not a directory`, { file: out, code: 'ENOTDIR' });
  try {
    await fs.access(dir, fsConstants.W_OK);
  } catch {
    throw new RetinaFaceError('the savepath directory is not writable', { file: out, code: 'EACCES' });
  }
}

/** The encoder's arguments after its input: codec and container from OUT's extension (H.264 by default). */
function encoderArgs(out: string, tmp: string, width: number, height: number): string[] {
  const ext = path.extname(out).toLowerCase();
  if (ext !== '' && !H264_EXTENSIONS.has(ext)) return ['-an', tmp];
  // yuv420p halves the chroma in both directions, so x264 needs even sizes: an odd one gets a
  // black row or column (the frames are drawn at the input's size, the video is one pixel larger).
  const pad = width % 2 || height % 2 ? ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2'] : [];
  const mp4 = ext === '' || ext === '.mp4' || ext === '.m4v' || ext === '.mov';
  // veryfast: the encoder shares the CPU with the network; it costs a third of x264's default
  // (medium) for a slightly larger file at the same quality.
  return ['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', ...pad, ...(mp4 ? ['-movflags', '+faststart'] : []),
    '-an', ...(ext === '' ? ['-f', 'mp4'] : []), tmp];
}

interface StageTimes { read: number[]; preprocess: number[]; forward: number[]; postprocess: number[]; track: number[]; draw: number[]; encode: number[]; total: number[] }

export async function runVideo(args: ParsedArgs, io: Io): Promise<number> {
  const input = stringOption(args, 'video')!;
  for (const name of IMAGE_ONLY_OPTIONS) if (args.options.has(name)) throw new UsageError(`--${name} does not apply to --video`);
  const out = stringOption(args, 'savepath');
  if (out === undefined) throw new UsageError('--video needs --savepath OUT (the drawn video: .mp4, or another format ffmpeg writes by extension)');
  const options = thresholdOptions(args);
  const defined = options.defined;
  numberOption(args, 'threads', { min: 1, max: 256, integer: true }); // refused before any work
  const benchmark = flag(args, 'benchmark');
  const writeJson = flag(args, 'write_json');
  const quiet = flag(args, 'quiet');
  const progress = quiet ? () => undefined : (line: string) => io.err(line);

  // Everything that can be refused is refused before the network loads.
  const s = await fs.stat(input).catch((e: unknown) => {
    throw new RetinaFaceError(describeFsError(e), { file: input, code: 'ENOENT' });
  });
  if (s.isDirectory()) throw new RetinaFaceError('is a directory, expected a video file', { file: input, code: 'EISDIR' });
  const jsonOut = writeJson ? out.replace(/\.[^./\\]*$/, '') + '.json' : undefined;
  await checkSavepath(out, jsonOut, input);
  const tools = await findFfmpeg(stringOption(args, 'ffmpeg'));
  const info = await probeVideo(tools.ffprobe, input);

  const arch = (stringOption(args, 'arch') ?? 'mobile0.25') as Arch;
  const detector = await loadDetector(args, progress);

  const { width, height } = info;
  const frameBytes = width * height * 3;
  const tmpVideo = tempBeside(out, path.extname(out));
  const tmpJson = jsonOut === undefined ? undefined : tempBeside(jsonOut, '');
  const temps = [tmpVideo, ...(tmpJson === undefined ? [] : [tmpJson])];
  let decoder: Tool | undefined, encoder: Tool | undefined;
  // Ctrl-C or a kill: the children go, the temp files too, then the usual exit status.
  const onSignal = (signal: NodeJS.Signals) => {
    decoder?.child.kill('SIGKILL');
    encoder?.child.kill('SIGKILL');
    for (const t of temps) rmSync(t, { force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let json: FileHandle | undefined;
  let renamed = false;
  try {
    encoder = new Tool(tools.ffmpeg, ['-nostdin', '-hide_banner', '-loglevel', 'error',
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-video_size', `${width}x${height}`, '-framerate', info.rate, '-i', 'pipe:0',
      ...encoderArgs(out, tmpVideo, width, height)], 'pipe', 'ignore');
    // Any end of the encoder before we close its input is a failure, and so is a broken pipe.
    const encoderFailed = new Promise<never>((_, reject) => {
      const fail = (why: string) => reject(new RetinaFaceError(`ffmpeg failed while encoding: ${why}`, { file: out, code: 'EENCODE' }));
      encoder!.child.stdin!.on('error', () => undefined); // EPIPE: reported through the exit below
      void encoder!.exited.then((r) => fail(ffmpegMessages(encoder!.stderr(), tmpVideo).join('; ').replaceAll(tmpVideo, out) || describeExit(r)));
    });
    encoderFailed.catch(() => undefined);
    decoder = new Tool(tools.ffmpeg, ['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', input,
      '-map', `0:${info.index}`, '-an', '-sn', '-dn', '-vsync', 'passthrough', '-s', `${width}x${height}`,
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], 'ignore', 'pipe');
    const appendJson = async (text: string) => {
      try {
        if (json !== undefined) await json.write(text);
      } catch (e) {
        throw new RetinaFaceError(`cannot write: ${describeFsError(e)}`, { file: jsonOut, code: 'EWRITE', cause: e });
      }
    };
    if (tmpJson !== undefined) {
      try {
        json = await fs.open(tmpJson, 'wx');
      } catch (e) {
        throw new RetinaFaceError(`cannot write: ${describeFsError(e)}`, { file: jsonOut, code: 'EWRITE', cause: e });
      }
      await appendJson(`{\n  "video": ${JSON.stringify(input)},\n  "width": ${width},\n  "height": ${height},\n  "fps": ${Math.round(info.fps * 1e6) / 1e6},\n` +
        `  "arch": ${JSON.stringify(arch)},\n  "backend": ${JSON.stringify(detector.backend.name)},\n  "vis_thres": ${options.visThreshold ?? DEFAULT_DETECT_OPTIONS.visThreshold},\n  "frames": [`);
    }

    const tracker = createTracker({ fps: info.fps });
    const times: StageTimes = { read: [], preprocess: [], forward: [], postprocess: [], track: [], draw: [], encode: [], total: [] };
    const ids = new Set<number>();
    const partial = { bytes: 0 };
    const total = info.expectedFrames === undefined ? '' : `/${info.frames === undefined ? '~' : ''}${info.expectedFrames}`;
    const started = performance.now();
    let lastProgress = started;
    let index = 0;
    let t0 = performance.now();
    for await (const data of readFrames(decoder.child.stdout!, frameBytes, partial)) {
      const t1 = performance.now();
      const d = await detector.detectDetailed({ width, height, data }, defined, `${input} frame ${index}`);
      if (index === 0) progress(`retinaface: backend ${describeBackend(detector)}`);
      const t2 = performance.now();
      const tracked = tracker.update(d.faces, index / info.fps);
      for (const f of tracked) ids.add(f.id);
      const t3 = performance.now();
      // A copy (drawTrackedFaces draws on one): the encoder's pipe may still hold it while the
      // next frame is read into `data`.
      const drawn = drawTrackedFaces({ width, height, data }, tracked);
      const t4 = performance.now();
      await writeAll(encoder.child.stdin!, drawn.data, encoderFailed);
      const t5 = performance.now();
      await appendJson(`${index === 0 ? '' : ','}\n    ${frameJson(index, index / info.fps, tracked)}`);
      const t6 = performance.now();
      times.read.push(t1 - t0);
      times.preprocess.push(d.timings.decode + d.timings.preprocess);
      times.forward.push(d.timings.forward);
      times.postprocess.push(d.timings.postprocess);
      times.track.push(t3 - t2);
      times.draw.push(t4 - t3);
      times.encode.push(t5 - t4);
      times.total.push(t6 - t0);
      index++;
      if (t6 - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = t6;
        progress(`${input}: frame ${index}${total}, ${(index / ((t6 - started) / 1000)).toFixed(1)} frames/s`);
      }
      t0 = performance.now();
    }

    // The decoder's verdict: an exit code, or frames missing with errors said (a truncated file
    // whose header announced more frames ends with code 0 and "partial file" lines).
    const dec = await decoder.exited;
    const said = ffmpegMessages(decoder.stderr(), input);
    if (dec.code !== 0) {
      throw new RetinaFaceError(`ffmpeg failed while decoding${index > 0 ? ` after frame ${index}` : ''}: ${said.join('; ') || describeExit(dec)}`, { file: input, code: 'EDECODE' });
    }
    if (partial.bytes > 0) throw new RetinaFaceError(`truncated: the decoder's last frame has ${partial.bytes} of ${frameBytes} bytes`, { file: input, code: 'EDECODE' });
    if (index === 0) throw new RetinaFaceError(`no frame could be decoded${said.length ? `: ${said.join('; ')}` : ''}`, { file: input, code: 'EDECODE' });
    if (info.frames !== undefined && index < info.frames && said.length > 0) {
      throw new RetinaFaceError(`truncated or corrupt: ${index} of the ${info.frames} frames it announces decoded (${said.at(-1)})`, { file: input, code: 'EDECODE' });
    }
    if (said.length > 0) progress(`retinaface: ${input}: ffmpeg reported decoding errors, ${index} frames read: ${said.at(-1)}`);

    encoder.child.stdin!.end();
    const enc = await encoder.exited;
    if (enc.code !== 0) {
      const why = ffmpegMessages(encoder.stderr(), tmpVideo).join('; ').replaceAll(tmpVideo, out) || describeExit(enc);
      throw new RetinaFaceError(`ffmpeg failed while encoding: ${why}`, { file: out, code: 'EENCODE' });
    }
    if (json !== undefined) {
      await appendJson('\n  ]\n}\n');
      await json.close();
      json = undefined;
    }
    // The JSON first: if the video's rename then fails, the JSON just renamed is taken back.
    let jsonRenamed = false;
    try {
      if (tmpJson !== undefined) await fs.rename(tmpJson, jsonOut!);
      jsonRenamed = tmpJson !== undefined;
      await fs.rename(tmpVideo, out);
      renamed = true;
    } catch (e) {
      if (jsonRenamed) await fs.rm(jsonOut!, { force: true });
      throw new RetinaFaceError(`cannot write: ${describeFsError(e)}`, { file: jsonRenamed || tmpJson === undefined ? out : jsonOut, code: 'EWRITE', cause: e });
    }
    const seconds = (performance.now() - started) / 1000;
    const rate = (index / seconds).toFixed(1);
    if (benchmark) {
      const stages = ['read', 'preprocess', 'forward', 'postprocess', 'track', 'draw', 'encode', 'total'] as const;
      io.out(`${input}: ${width}x${height}, ${index} frames at ${round4(info.fps)} fps, ${describeBackend(detector)}, ` +
        `median per frame: ${stages.map((k) => `${k} ${median(times[k]).toFixed(1)} ms`).join(', ')}; ${rate} frames/s overall`);
    }
    if (!quiet && index > 0) progress(`${input}: frame ${index}${total}, ${rate} frames/s`);
    io.out(`${input}: ${index} frames ${width}x${height} at ${round4(info.fps)} fps, ${ids.size} face track${ids.size === 1 ? '' : 's'} -> ${out}` +
      `${jsonOut === undefined ? '' : ` and ${jsonOut}`} (${rate} frames/s)`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await json?.close().catch(() => undefined);
    await Promise.all([decoder?.kill(), encoder?.kill()]);
    if (!renamed) await Promise.all(temps.map((t) => fs.rm(t, { force: true })));
    detector.dispose();
  }
}
