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
// PATH or given by --ffmpeg (ffprobe beside it, else on PATH); nothing is bundled. Running it and
// its pipes: ffmpeg.ts; what ffprobe says of IN: video_probe.ts.
//
// The output has the input's frame count (every decoded frame is one output frame: -vsync
// passthrough, which rawvideo output would otherwise not be) and frame rate (the average one,
// avg_frame_rate, so that a variable-rate input keeps its duration). Frames come out upright:
// ffmpeg applies the rotation metadata when decoding, and the output has none. No audio.
//
// Nothing half-written is left: the video and its JSON are written to temporary files beside
// OUT and renamed at the end; any failure (ffmpeg exiting midway, a truncated input, an
// unwritable directory, Ctrl-C) removes them.
import { constants as fsConstants, promises as fs, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { DEFAULT_DETECT_OPTIONS } from '../detect/postprocess.js';
import { RetinaFaceError } from '../errors.js';
import { drawTrackedFaces } from '../image/draw.js';
import type { Arch } from '../model/config.js';
import { createTracker, type TrackedFace } from '../track/tracker.js';
import { describeFsError } from '../weights/files.js';
import { flag, numberOption, stringOption, UsageError, type Io, type ParsedArgs } from './args.js';
import { describeBackend, loadDetector, thresholdOptions } from './detect.js';
import { describeExit, ffmpegMessages, findFfmpeg, readFrames, Tool, writeAll } from './ffmpeg.js';
import { probeVideo } from './video_probe.js';

/** Extensions written as H.264 in yuv420p (what every player reads); others get ffmpeg's default codec for their format. */
const H264_EXTENSIONS = new Set(['.mp4', '.m4v', '.mov', '.mkv']);
/** Detect's options that mean nothing for a video. */
const IMAGE_ONLY_OPTIONS = ['input', 'raw', 'json_format', 'max_pixels', 'benchmark_count'];
/** A progress line at most this often (stderr, not with -q). */
const PROGRESS_EVERY_MS = 2000;

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
      const d = await detector.detectDetailed({ width, height, data }, { ...defined, raw: false }, `${input} frame ${index}`);
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
