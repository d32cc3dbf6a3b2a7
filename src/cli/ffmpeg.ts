// The ffmpeg and ffprobe processes of `retinaface --video` (video.ts): finding the binaries (the
// system's, on PATH or given by --ffmpeg; nothing is bundled), running one with its stderr kept
// (Tool), turning that stderr into a short message, and the raw rgb24 frames that go through
// their pipes (one frame buffer reused; a full pipe waited on, never buffered).
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { RetinaFaceError } from '../errors.js';
import { describeFsError } from '../weights/files.js';

export const FFMPEG_MISSING = 'ffmpeg not found: install it (apt-get install ffmpeg) or pass --ffmpeg PATH';

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
export function ffmpegMessages(lines: readonly string[], file?: string): string[] {
  const said = lines.map((l) => cleanFfmpegLine(l, file)).filter((l) => l !== '' && !/^Last message repeated/.test(l));
  return [...new Set(said)].slice(-MESSAGES_SHOWN);
}

/** A child process's stderr, its last lines kept; `exited` settles once, with the exit or the spawn error. */
export class Tool {
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

export function describeExit(r: { code: number | null; signal: NodeJS.Signals | null; error?: Error }): string {
  if (r.error !== undefined) return `could not start (${describeFsError(r.error)})`;
  return r.signal !== null ? `was killed (${r.signal})` : `exited with code ${r.code}`;
}

// ---------------------------------------------------------------- frame pipes

/**
 * The frames of a raw rgb24 stream, `frameBytes` each, in one buffer reused for every frame: the
 * consumer is done with a frame when it asks for the next. A trailing partial frame is reported
 * through `partial` (the stream ended inside it).
 */
export async function* readFrames(stream: Readable, frameBytes: number, partial: { bytes: number }): AsyncGenerator<Uint8Array> {
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
export async function writeAll(stream: Writable, data: Uint8Array, failed: Promise<never>): Promise<void> {
  if (stream.write(data)) return;
  await Promise.race([new Promise<void>((resolve) => stream.once('drain', resolve)), failed]);
}
