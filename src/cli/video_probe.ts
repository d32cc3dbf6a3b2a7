// ffprobe IN -> VideoInfo: what the first video stream of a file is (size, frame rate, frame
// count, rotation), asked before any work so that `retinaface --video` (video.ts) refuses what it
// cannot read before the network loads. ffprobe's answer echoes what the file declares, so
// videoInfoFromProbe reads it as untrusted: every field checked, every string escaped.
import { promises as fs } from 'node:fs';
import { RetinaFaceError } from '../errors.js';
import { DEFAULT_MAX_PIXELS } from '../image/decode.js';
import { printable } from '../printable.js';
import { describeExit, ffmpegMessages, Tool } from './ffmpeg.js';

/** ffprobe reads headers only: a minute is far beyond any file's, and stops a hang on a FIFO. */
const PROBE_TIMEOUT_MS = 60_000;

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
