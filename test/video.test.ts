// `retinaface --video` (src/cli/video.ts) on a clip made here with ffmpeg from the group photo:
// a pan, the crop window moving PAN_PX to the right every frame, so every face of the photo moves
// PAN_PX to the left every frame and its position in the photo is known on every frame. Checked:
// every frame processed and in order, the output's frame count, size and rate (ffprobe), the
// JSON, each physical face keeping one id, and bad input of every kind (one line naming the file
// and the problem, exit 1, nothing left at OUT or OUT.json, no hang). ffmpeg is required: without
// it these tests fail, saying so (CI installs it: .ci/run).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.js';
import { FFMPEG_MISSING } from '../src/cli/ffmpeg.js';
import type { Face } from '../src/detect/postprocess.js';
import { drawTrackedFaces, TRACK_COLORS } from '../src/image/draw.js';
import { rgbImage } from '../src/image/image.js';
import { DEFAULT_TRACKER_OPTIONS, iou, type TrackedFace } from '../src/track/tracker.js';
import { cacheDir, officialCheckpoint, sharedImage } from './helpers/paths.js';

process.env.RETINAFACE_CACHE = cacheDir('home');
process.env.RETINAFACE_WEIGHTS_DIR = path.dirname(officialCheckpoint());
process.env.RETINAFACE_OFFLINE = '1';

/**
 * The clip: the group photo scaled to 560 px wide (its 26 visible faces become 15 to 40 px
 * wide), a 480x272 window starting at (0, CROP_Y) moved PAN_PX right per frame, FRAMES frames
 * at FPS. 2 px a frame at 25 fps is a slow pan (50 px/s): small next to the faces, so that
 * every face can be followed, large enough that a dropped or repeated frame shows (below).
 */
const CLIP = { scaledWidth: 560, width: 480, height: 272, cropY: 30, panPx: 2, frames: 16, fps: 25 } as const;
/**
 * Id switches allowed on the clip: 0. Between two detections of a face at most maxMissed + 1
 * frames apart (its track still alive) the face moves 2 px a frame, and the tracker predicts
 * that motion; faces of the crowd are apart, so a face never overlaps another face's
 * prediction more than its own. A switch is a tracker fault, not bad luck. A face missed for
 * longer than maxMissed frames gets a new id when it comes back (the tracker has no appearance
 * model: src/track/tracker.ts); those are counted apart as lost tracks, not switches.
 */
const MAX_ID_SWITCHES = 0;
/** A command that should take seconds; past this it hangs (which the CLI must never do). */
const HANG_BOUND_MS = 120_000;

const dir = mkdtempSync(path.join(os.tmpdir(), 'retinaface video é-'));
const videoCache = cacheDir('video');

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`retinaface ${argv.join(' ')} did not end within ${HANG_BOUND_MS / 1000} s`)), HANG_BOUND_MS);
  });
  try {
    const code = await Promise.race([main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) }), hang]);
    return { code, out, err };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a tool of ffmpeg's; a missing ffmpeg fails the test with how to install it. */
function tool(name: 'ffmpeg' | 'ffprobe', args: string[]): string {
  const r = spawnSync(name, args, { encoding: 'utf8' });
  if (r.error !== undefined) throw new Error(`${name} is required by test/video.test.ts (apt-get install ffmpeg): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${name} ${args.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return r.stdout;
}

function which(name: string): string {
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    const f = path.join(d, name);
    if (d !== '' && existsSync(f)) return f;
  }
  throw new Error(`${name} is required by test/video.test.ts (apt-get install ffmpeg): not on PATH`);
}

interface Probe { width: number; height: number; rate: string; frames: number; codec: string; pixFmt: string }
/** What ffprobe says of the first video stream, frames counted by decoding them. */
function probe(file: string): Probe {
  const j = JSON.parse(tool('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries',
    'stream=width,height,r_frame_rate,nb_read_frames,codec_name,pix_fmt', '-of', 'json', file])) as { streams: Record<string, string | number>[] };
  const s = j.streams[0]!;
  return { width: Number(s.width), height: Number(s.height), rate: String(s.r_frame_rate), frames: Number(s.nb_read_frames), codec: String(s.codec_name), pixFmt: String(s.pix_fmt) };
}

/** The panned clip (remade every run: seconds), its moov box at the end as ffmpeg writes by default. */
let clipFile: string | undefined;
function clip(): string {
  if (clipFile !== undefined) return clipFile;
  const c = CLIP;
  const file = path.join(videoCache, `group_pan${c.panPx}_${c.width}x${c.height}_${c.frames}f_${c.fps}fps.mp4`);
  tool('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-loop', '1', '-framerate', String(c.fps), '-i', sharedImage('wider_group.jpg'),
    '-vf', `scale=${c.scaledWidth}:-2,crop=${c.width}:${c.height}:x='${c.panPx}*n':y=${c.cropY}`,
    '-frames:v', String(c.frames), '-c:v', 'libx264', '-crf', '16', '-pix_fmt', 'yuv420p', file]);
  clipFile = file;
  return file;
}

interface VideoJson {
  video: string; width: number; height: number; fps: number;
  frames: { index: number; time: number; faces: { id: number; score: number; box: number[]; landmarks: number[][] }[] }[];
}

/** The clip through the CLI once (with -w and -b), shared by the tests that read its results. */
let processed: Promise<{ r: Awaited<ReturnType<typeof cli>>; out: string; json: VideoJson }> | undefined;
function processClip() {
  processed ??= (async () => {
    const out = path.join(dir, 'ok', 'group tracked.mp4');
    mkdirSync(path.dirname(out), { recursive: true });
    const r = await cli('--video', clip(), '--savepath', out, '--write_json', '-b');
    assert.is(r.code, 0, r.err.join('\n'));
    return { r, out, json: JSON.parse(readFileSync(out.replace(/\.mp4$/, '.json'), 'utf8')) as VideoJson };
  })();
  return processed;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

test('video: every frame processed; the output has the input\'s frame count, size and frame rate (ffprobe), H.264 yuv420p', async () => {
  const input = probe(clip());
  assert.equal([input.width, input.height, input.rate, input.frames], [CLIP.width, CLIP.height, `${CLIP.fps}/1`, CLIP.frames], 'the clip as made');
  const { r, out } = await processClip();
  const got = probe(out);
  assert.equal({ ...got }, { width: CLIP.width, height: CLIP.height, rate: `${CLIP.fps}/1`, frames: CLIP.frames, codec: 'h264', pixFmt: 'yuv420p' });
  assert.equal(readdirSync(path.dirname(out)).sort(), ['group tracked.json', 'group tracked.mp4'], 'no temporary file left');
  // stdout: the -b line (every stage a median per frame) and the summary; stderr: the backend, progress with frames/s
  const bench = r.out.find((l) => l.includes('median per frame'));
  assert.ok(bench !== undefined, r.out.join('\n'));
  for (const stage of ['read', 'preprocess', 'forward', 'postprocess', 'track', 'draw', 'encode', 'total']) assert.match(bench!, new RegExp(`${stage} \\d+\\.\\d ms`), stage);
  assert.match(bench!, /frames\/s overall/);
  assert.match(r.out.at(-1)!, new RegExp(`: ${CLIP.frames} frames ${CLIP.width}x${CLIP.height} at ${CLIP.fps} fps, \\d+ face tracks -> .*group tracked\\.mp4 and .*group tracked\\.json \\(\\d+\\.\\d frames/s\\)$`));
  assert.ok(r.err.some((l) => /^retinaface: backend cpu-simd/.test(l)), r.err.join('\n'));
  assert.ok(r.err.some((l) => new RegExp(`frame ${CLIP.frames}/${CLIP.frames}, \\d+\\.\\d frames/s$`).test(l)), r.err.join('\n'));
  console.log(`  [video] ${bench}`);
});

test('video: the JSON has every frame in order, its time, and the visible faces with id, score, box, landmarks', async () => {
  const { json } = await processClip();
  assert.equal(Object.keys(json).slice(0, 4), ['video', 'width', 'height', 'fps']);
  assert.equal([json.width, json.height, json.fps], [CLIP.width, CLIP.height, CLIP.fps]);
  assert.ok(json.video.endsWith(path.basename(clip())));
  assert.equal(json.frames.map((f) => f.index), [...Array(CLIP.frames).keys()]);
  json.frames.forEach((f) => assert.ok(Math.abs(f.time - f.index / CLIP.fps) < 1e-6, `frame ${f.index}: time ${f.time}`));
  for (const f of json.frames) {
    assert.ok(f.faces.length >= 12, `frame ${f.index}: ${f.faces.length} faces (the crowd shows 15 to 20)`);
    for (const face of f.faces) {
      assert.equal(Object.keys(face), ['id', 'score', 'box', 'landmarks']);
      assert.ok(Number.isInteger(face.id) && face.id >= 1);
      assert.ok(face.score >= 0.6 && face.score <= 1, `score ${face.score} (visible faces only)`);
      assert.is(face.box.length, 4);
      assert.is(face.landmarks.length, 5);
    }
    assert.is(new Set(f.faces.map((x) => x.id)).size, f.faces.length, `frame ${f.index}: ids distinct within the frame`);
  }
  // Frames in order, none dropped or repeated: between frames k and k+1 the faces of the same id
  // moved -PAN_PX (median over the ~17 faces seen on both; one face's box jitters by a pixel or
  // two). A dropped frame would show -2 PAN_PX, a repeated one 0: the bound is half a pan.
  for (let k = 0; k + 1 < json.frames.length; k++) {
    const next = new Map(json.frames[k + 1]!.faces.map((f) => [f.id, f]));
    const dx = json.frames[k]!.faces.flatMap((f) => {
      const g = next.get(f.id);
      return g === undefined ? [] : [(g.box[0]! + g.box[2]! - f.box[0]! - f.box[2]!) / 2];
    });
    assert.ok(dx.length >= 10, `frames ${k}-${k + 1}: ${dx.length} faces on both`);
    assert.ok(Math.abs(median(dx) + CLIP.panPx) < CLIP.panPx / 2, `frames ${k}-${k + 1}: faces moved ${median(dx).toFixed(2)} px, the pan is -${CLIP.panPx}`);
  }
});

test(`video: each physical face keeps one id across the clip (id switches counted from the known pan, at most ${MAX_ID_SWITCHES})`, async () => {
  const { json } = await processClip();
  // Each detection in the photo's coordinates (frame k's window starts PAN_PX * k to the right):
  // the same face lands on the same place on every frame. Grouped by IoU >= 0.5 with the first
  // box of a group (a face's own boxes overlap at IoU > 0.7; two faces of the crowd hardly at all).
  const persons: { box: number[]; seen: [frame: number, id: number][] }[] = [];
  for (const f of json.frames) {
    for (const face of f.faces) {
      const b = [face.box[0]! + CLIP.panPx * f.index, face.box[1]!, face.box[2]! + CLIP.panPx * f.index, face.box[3]!];
      let person = persons.find((p) => iou(p.box, b) >= 0.5);
      if (person === undefined) persons.push(person = { box: b, seen: [] });
      person.seen.push([f.index, face.id]);
    }
  }
  let switches = 0, lost = 0;
  const report: string[] = [];
  for (const p of persons) {
    for (let i = 1; i < p.seen.length; i++) {
      const [[k0, id0], [k1, id1]] = [p.seen[i - 1]!, p.seen[i]!];
      if (id0 === id1) continue;
      if (k1 - k0 <= DEFAULT_TRACKER_OPTIONS.maxMissed + 1) {
        switches++;
        report.push(`face at (${p.box.map(Math.round).join(', ')}) in the photo: id ${id0} on frame ${k0}, id ${id1} on frame ${k1}`);
      } else {
        lost++;
      }
    }
  }
  // and the other way: an id is one person
  const personsOfId = new Map<number, Set<number>>();
  persons.forEach((p, pi) => p.seen.forEach(([, id]) => personsOfId.set(id, (personsOfId.get(id) ?? new Set()).add(pi))));
  const shared = [...personsOfId].filter(([, ps]) => ps.size > 1).map(([id, ps]) => `id ${id} on ${ps.size} faces`);
  const steady = persons.filter((p) => p.seen.length === CLIP.frames).length;
  console.log(`  [video] ${persons.length} faces in the clip (${steady} on all ${CLIP.frames} frames), ${personsOfId.size} ids: ` +
    `${switches} id switches, ${lost} tracks lost after more than ${DEFAULT_TRACKER_OPTIONS.maxMissed} missed frames (new id, by design), ${shared.length} ids shared`);
  assert.ok(steady >= 10, `${steady} faces are found on every frame`);
  assert.ok(switches <= MAX_ID_SWITCHES, `${switches} id switches (at most ${MAX_ID_SWITCHES}): ${report.join('; ')}`);
  assert.equal(shared, [], 'no id on two faces');
});

test('video: drawTrackedFaces draws each box in its track\'s colour with the id on a label, on a copy', () => {
  const img = rgbImage(120, 80, new Uint8Array(120 * 80 * 3).fill(128));
  const face = (id: number, x: number): TrackedFace => {
    const f: Face = { score: 0.9, box: [x, 30, x + 30, 70], landmarks: [[x + 9, 45], [x + 21, 45], [x + 15, 52], [x + 10, 60], [x + 20, 60]] };
    return { ...f, id, age: 1, raw: f };
  };
  const out = drawTrackedFaces(img, [face(1, 10), face(12, 70)]);
  assert.ok(img.data.every((v) => v === 128), 'the input is untouched');
  const at = (x: number, y: number) => [...out.data.subarray(3 * (y * 120 + x), 3 * (y * 120 + x) + 3)];
  assert.equal(at(25, 70), [...TRACK_COLORS[0]!], 'id 1: the first colour (bottom edge)');
  assert.equal(at(85, 70), [...TRACK_COLORS[11 % TRACK_COLORS.length]!], 'id 12: the twelfth, cycling');
  // The label sits above the box: the id's colour with the digits in black or white inside it.
  const label = (x0: number, x1: number) => {
    const colours = new Set<string>();
    for (let y = 15; y < 29; y++) for (let x = x0; x < x1; x++) colours.add(at(x, y).join(','));
    return colours;
  };
  assert.equal(label(9, 19), new Set([TRACK_COLORS[0]!.join(','), '255,255,255']), 'label of id 1: white on red');
  assert.equal(label(69, 88), new Set([TRACK_COLORS[3]!.join(','), '0,0,0']), 'label of id 12: black on amber');
  assert.equal(at(25, 10), [128, 128, 128], 'nothing far above the label');
});

// ---------------------------------------------------------------- bad input

/** A stand-in for ffmpeg that runs the real one but fails midway: the decoder after `bytes` of frames, or the encoder. */
function failingFfmpeg(name: string, side: 'decoder' | 'encoder', bytes: number): string {
  const d = path.join(dir, `ffmpeg ${name}`);
  mkdirSync(d, { recursive: true });
  const real = which('ffmpeg');
  const script = side === 'decoder'
    ? `case " $* " in *" pipe:1 "*) "${real}" "$@" | head -c ${bytes}; echo "simulated failure: the decoder died" >&2; exit 1;; esac\n`
    : `case " $* " in *" pipe:0 "*) head -c ${bytes} | "${real}" "$@"; echo "simulated failure: the encoder died" >&2; exit 1;; esac\n`;
  writeFileSync(path.join(d, 'ffmpeg'), `#!/bin/sh\n${script}exec "${real}" "$@"\n`);
  chmodSync(path.join(d, 'ffmpeg'), 0o755);
  if (!existsSync(path.join(d, 'ffprobe'))) symlinkSync(which('ffprobe'), path.join(d, 'ffprobe'));
  return path.join(d, 'ffmpeg');
}

/** The clip cut at the start of its 11th packet, with its index (moov) first: 10 frames decodable, then "partial file". */
function cutClip(): string {
  const fast = path.join(videoCache, 'group_pan_faststart.mp4');
  tool('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', clip(), '-c', 'copy', '-movflags', '+faststart', fast]);
  const pos = Number(tool('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pos', '-of', 'csv=p=0', fast]).trim().split('\n')[10]);
  const file = path.join(dir, 'cut.mp4');
  writeFileSync(file, readFileSync(fast).subarray(0, pos));
  return file;
}

function audioOnly(): string {
  const file = path.join(dir, 'tone.m4a');
  tool('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=duration=1', file]);
  return file;
}

const frameBytes = CLIP.width * CLIP.height * 3;
const BAD: [string, () => { video: string; extra?: string[] }, RegExp][] = [
  ['missing file', () => ({ video: path.join(dir, 'nothere.mp4') }), /nothere\.mp4: no such file or directory$/],
  ['a directory', () => ({ video: dir }), /: is a directory, expected a video file$/],
  ['text named .mp4', () => {
    const f = path.join(dir, 'notes.mp4');
    writeFileSync(f, 'These are my notes, not a video.\n');
    return { video: f };
  }, /notes\.mp4: not a video ffmpeg can read: .*Invalid data found when processing input$/],
  ['truncated MP4 (index lost)', () => {
    const f = path.join(dir, 'half.mp4');
    const bytes = readFileSync(clip());
    writeFileSync(f, bytes.subarray(0, bytes.length >> 1));
    return { video: f };
  }, /half\.mp4: truncated, or not finished writing: an MP4 without its index \(moov atom not found\)$/],
  ['truncated MP4 (frames lost)', () => ({ video: cutClip() }), new RegExp(`cut\\.mp4: truncated or corrupt: 10 of the ${CLIP.frames} frames it announces decoded \\(.*partial file\\)$`)],
  ['no video stream', () => ({ video: audioOnly() }), /tone\.m4a: no video stream \(only audio\)$/],
  ['frames over the pixel limit', () => {
    // One black 8000x6400 frame (51.2 megapixels, over the 50 of DEFAULT_MAX_PIXELS), losslessly
    // coded: a 13 KB file refused before any frame buffer is allocated.
    const f = path.join(dir, 'huge.mkv');
    if (!existsSync(f)) tool('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=black:s=8000x6400:d=0.04:r=25', '-frames:v', '1', '-c:v', 'ffv1', f]);
    return { video: f };
  }, /huge\.mkv: frames of 8000x6400 are 51\.2 megapixels, over the limit of 50\.0 megapixels$/],
  ['a still image', () => ({ video: sharedImage('wider_group.jpg') }), /wider_group\.jpg: is a still image \(mjpeg\), not a video: use --input for images$/],
  ['the decoder failing midway', () => ({ video: clip(), extra: ['--ffmpeg', failingFfmpeg('decoder', 'decoder', 5.5 * frameBytes)] }),
    /group_pan[^:]*\.mp4: ffmpeg failed while decoding after frame 5: .*simulated failure: the decoder died$/],
  ['the encoder failing midway', () => ({ video: clip(), extra: ['--ffmpeg', failingFfmpeg('encoder', 'encoder', 3.5 * frameBytes)] }),
    /out\.mp4: ffmpeg failed while encoding: .*simulated failure: the encoder died$/],
];

test('video: bad input gets one line naming the file and the problem, exit 1, no stack, nothing at OUT or OUT.json', async () => {
  for (const [name, make, pattern] of BAD) {
    const outDir = path.join(dir, 'bad', name);
    mkdirSync(outDir, { recursive: true });
    const { video, extra = [] } = make();
    const r = await cli('--video', video, '--savepath', path.join(outDir, 'out.mp4'), '--write_json', '-q', ...extra);
    assert.is(r.code, 1, `${name}: exit code (${r.err.join(' | ')})`);
    assert.is(r.err.length, 1, `${name}: one line, got ${JSON.stringify(r.err)}`);
    assert.match(r.err[0]!, /^retinaface: /, name);
    assert.match(r.err[0]!, pattern, `${name}: ${r.err[0]}`);
    assert.not.match(r.err[0]!, /\n|    at /, `${name}: no stack`);
    assert.equal(readdirSync(outDir), [], `${name}: nothing left in the output directory`);
  }
});

test('video: unwritable or unsafe outputs are refused before any work, the input untouched', async () => {
  const input = path.join(dir, 'input copy.mp4');
  copyFileSync(clip(), input);
  const named = path.join(dir, 'a video named.json'); // its OUT.json would be the input itself
  copyFileSync(clip(), named);
  const notDir = path.join(dir, 'plain file');
  writeFileSync(notDir, 'x');
  const cases: [string, string[], RegExp][] = [
    ['output = input', ['--video', input, '--savepath', input], /input copy\.mp4: the savepath is the input itself; refusing to overwrite it$/],
    ['OUT.json = input', ['--video', named, '--savepath', path.join(dir, 'a video named.mp4'), '-w'], /a video named\.mp4: the savepath is the input itself/],
    ['directory missing', ['--video', input, '--savepath', path.join(dir, 'no such dir', 'out.mp4')], /out\.mp4: the savepath directory does not exist$/],
    ['directory is a file', ['--video', input, '--savepath', path.join(notDir, 'out.mp4')], /plain file\/out\.mp4: .*plain file is not a directory$/],
    ['savepath is a directory', ['--video', input, '--savepath', dir], /: the savepath is a directory: give the video's file name/],
  ];
  const before = [readFileSync(input), readFileSync(named)];
  for (const [name, argv, pattern] of cases) {
    const r = await cli(...argv, '-q');
    assert.is(r.code, 1, `${name}: exit code`);
    assert.is(r.err.length, 1, `${name}: ${JSON.stringify(r.err)}`);
    assert.match(r.err[0]!, pattern, `${name}: ${r.err[0]}`);
  }
  assert.ok(readFileSync(input).equals(before[0]!) && readFileSync(named).equals(before[1]!), 'the inputs are unchanged');
  assert.ok(!existsSync(path.join(dir, 'a video named.mp4')), 'no output');
});

test('video: ffmpeg missing, on PATH or at --ffmpeg, is one line saying how to install it', async () => {
  const out = path.join(dir, 'noffmpeg', 'out.mp4');
  mkdirSync(path.dirname(out), { recursive: true });
  const given = await cli('--video', clip(), '--savepath', out, '--ffmpeg', '/nonexistent', '-q');
  assert.is(given.code, 1);
  assert.equal(given.err, ['retinaface: ffmpeg not found at /nonexistent: install it (apt-get install ffmpeg) or pass --ffmpeg PATH']);
  const savedPath = process.env.PATH;
  process.env.PATH = path.join(dir, 'noffmpeg'); // a directory without ffmpeg
  let none: Awaited<ReturnType<typeof cli>>;
  try {
    none = await cli('--video', clip(), '--savepath', out, '-q');
  } finally {
    process.env.PATH = savedPath;
  }
  assert.is(none.code, 1);
  assert.equal(none.err, [`retinaface: ${FFMPEG_MISSING}`]);
  assert.is(FFMPEG_MISSING, 'ffmpeg not found: install it (apt-get install ffmpeg) or pass --ffmpeg PATH');
  assert.equal(readdirSync(path.dirname(out)), []);
});

test('video: rotation metadata is applied (sideways frames come out upright); another extension gets its own format', async () => {
  // Frames stored turned a quarter clockwise (272x480), with metadata that turns them back for display.
  const sideways = path.join(dir, 'sideways.mp4'), rotated = path.join(dir, 'rotated.mp4');
  tool('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', clip(), '-frames:v', '4', '-vf', 'transpose=clock', '-c:v', 'libx264', '-crf', '16', sideways]);
  // A display matrix of +90 (counterclockwise) on the copied frames: ffmpeg 5 sets it from the
  // stream's rotate tag, ffmpeg 6 and later with -display_rotation (the tag is ignored there).
  const rotation = () => tool('ffprobe', ['-v', 'error', '-show_entries', 'stream_side_data=rotation', '-of', 'csv=p=0', rotated]).trim();
  tool('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', sideways, '-c', 'copy', '-metadata:s:v', 'rotate=90', rotated]);
  if (rotation() !== '90') tool('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-display_rotation', '90', '-i', sideways, '-c', 'copy', rotated]);
  assert.is(rotation(), '90', 'the test clip carries a quarter-turn rotation');
  assert.equal([probe(rotated).width, probe(rotated).height], [CLIP.height, CLIP.width], 'stored sideways');
  const out = path.join(dir, 'rotated out.avi');
  const r = await cli('--video', rotated, '--savepath', out, '-w', '-q');
  assert.is(r.code, 0, r.err.join('\n'));
  const got = probe(out);
  assert.equal([got.width, got.height, got.frames, got.codec], [CLIP.width, CLIP.height, 4, 'mpeg4'], '.avi: upright frames in ffmpeg\'s default codec for AVI');
  const json = JSON.parse(readFileSync(out.replace(/\.avi$/, '.json'), 'utf8')) as VideoJson;
  assert.equal([json.width, json.height], [CLIP.width, CLIP.height]);
  assert.ok(json.frames.every((f) => f.faces.length >= 12), `faces on the upright frames: ${json.frames.map((f) => f.faces.length).join(' ')} (sideways, the detector finds about 5)`);
});

test('video: usage errors (exit 2) and --help lists --video and --ffmpeg', async () => {
  const cases: [string[], RegExp][] = [
    [['--video', 'x.mp4'], /--video needs --savepath OUT/],
    [['--video', 'x.mp4', '-s', 'o.mp4', '-i', 'a.jpg'], /--input does not apply to --video/],
    [['--video', 'x.mp4', '-s', 'o.mp4', '--raw', 'r'], /--raw does not apply to --video/],
    [['-v'], /--video needs a value \(FILE\)/],
  ];
  for (const [argv, pattern] of cases) {
    const r = await cli(...argv);
    assert.is(r.code, 2, argv.join(' '));
    assert.match(r.err.join('\n'), pattern, argv.join(' '));
  }
  const help = (await cli('--help')).out.join('\n');
  const io = help.slice(help.indexOf(' input and output:'), help.indexOf(' model:'));
  assert.match(io, /-v, --video FILE {2,}a video/);
  assert.match(io, /--ffmpeg PATH {2,}the ffmpeg binary/);
});

test.run();
