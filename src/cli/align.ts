// `retinaface align --input IMAGE... --savepath DIR`: the aligned crop of every visible face
// (ArcFace's 112x112 by default) as DIR/<stem>_<k>.png, k = 0 for the best score, and
// DIR/<stem>.json with each face's score, box, landmarks, matrix and crop file.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BACKEND_SPECS, DEFAULT_BACKEND } from '../backend.js';
import type { Point } from '../detect/postprocess.js';
import { DEFAULT_DETECT_OPTIONS } from '../detect/postprocess.js';
import { RetinaFaceError } from '../errors.js';
import { encodeImage } from '../image/encode.js';
import { ARCHS } from '../model/config.js';
import { alignFaces, alignTemplate, DEFAULT_ALIGN_SIZE, type AlignOptions } from '../align/align.js';
import { describeFsError, writeFileAtomic } from '../weights/files.js';
import { flag, numberOption, stringOption, UsageError, type CommandSpec, type Io, type ParsedArgs } from './args.js';
import { compactJson, expandInputs, forEachInput, loadDetector, writableDir } from './detect.js';

const IO = 'input and output', MODEL = 'model', ALIGN = 'alignment', PERFORMANCE = 'performance';

export const alignCommand: CommandSpec = {
  name: 'align',
  summary: 'write the aligned crop of every face (ArcFace 112x112 by default) and a JSON of the faces',
  positionals: [],
  options: [
    { group: IO, name: 'input', short: 'i', value: 'IMAGE', multiple: true, help: 'JPEG or PNG files, or directories of them' },
    { group: IO, name: 'savepath', short: 's', value: 'DIR', help: 'the folder for <stem>_<k>.png (k = 0 the best face) and <stem>.json (must exist)' },
    { group: IO, name: 'max_pixels', value: 'N', help: 'refuse images over N pixels before decoding' },
    { group: IO, name: 'quiet', short: 'q', help: 'no progress lines on stderr' },
    { group: ALIGN, name: 'size', value: 'N', help: `the crop's side in pixels (default ${DEFAULT_ALIGN_SIZE}; the template scales with it)` },
    { group: ALIGN, name: 'template', value: 'NAME', help: 'arcface (default: insightface\'s five points) or a JSON file of five [x, y] points in crop pixels' },
    { group: ALIGN, name: 'vis_thres', value: 'T', help: `faces with score >= T are cropped (default ${DEFAULT_DETECT_OPTIONS.visThreshold})` },
    { group: MODEL, name: 'arch', short: 'a', value: 'ARCH', choices: ARCHS, help: 'the backbone (default mobile0.25)' },
    { group: MODEL, name: 'weights', value: 'FILE', help: 'a .pth checkpoint or converted weights (default: resolved, see weights/README.md)' },
    { group: PERFORMANCE, name: 'backend', value: 'NAME', choices: BACKEND_SPECS, help: `what runs the network (default ${DEFAULT_BACKEND})` },
    { group: PERFORMANCE, name: 'threads', value: 'N', help: 'worker threads of the cpu-simd backend (default: all cores)' },
  ],
  run: runAlign,
};

async function readTemplate(value: string | undefined): Promise<AlignOptions['template']> {
  if (value === undefined || value === 'arcface') return 'arcface';
  let text: string;
  try {
    text = await fs.readFile(value, 'utf8');
  } catch (e) {
    throw new RetinaFaceError(`--template: ${describeFsError(e)} (expected 'arcface' or a JSON file of five [x, y] points)`, { file: value, code: 'ENOENT' });
  }
  let points: unknown;
  try {
    points = JSON.parse(text);
  } catch (e) {
    throw new RetinaFaceError(`--template: not JSON (${(e as Error).message})`, { file: value, code: 'EOPTION' });
  }
  try {
    return alignTemplate({ template: points as Point[] });
  } catch (e) {
    throw new RetinaFaceError(`--template: ${(e as Error).message}`, { file: value, code: 'EOPTION' });
  }
}

interface AlignJson {
  image: string;
  width: number;
  height: number;
  size: number;
  faces: { score: number; box: number[]; landmarks: number[][]; matrix: number[][]; crop: string }[];
}

/** Crops an earlier run listed in DIR/<stem>.json that this run does not write again. */
async function staleCrops(jsonFile: string, dir: string, keep: Set<string>): Promise<string[]> {
  const old = await fs.readFile(jsonFile, 'utf8').then((t) => JSON.parse(t) as Partial<AlignJson>, () => null);
  if (old === null || !Array.isArray(old.faces)) return [];
  return old.faces
    .map((f) => (typeof f?.crop === 'string' ? f.crop : ''))
    .filter((c) => c !== '' && path.basename(c) === c && !keep.has(c))
    .map((c) => path.join(dir, c));
}

async function runAlign(args: ParsedArgs, io: Io): Promise<number> {
  const given = args.options.get('input') as string[] | undefined;
  if (given === undefined) throw new UsageError('--input IMAGE is required');
  const dir = stringOption(args, 'savepath');
  if (dir === undefined) throw new UsageError('--savepath DIR is required (the folder for the crops)');
  const size = numberOption(args, 'size', { min: 1, max: 4096, integer: true }) ?? DEFAULT_ALIGN_SIZE;
  const visThreshold = numberOption(args, 'vis_thres', { min: 0, max: 1 }) ?? DEFAULT_DETECT_OPTIONS.visThreshold;
  const maxPixels = numberOption(args, 'max_pixels', { min: 1, integer: true });
  const template = await readTemplate(stringOption(args, 'template'));
  const quiet = flag(args, 'quiet');
  const progress = quiet ? () => undefined : (line: string) => io.err(line);

  const inputs = await expandInputs(given);
  await writableDir(dir, 'the savepath');
  const stems = new Map<string, string>();
  for (const file of inputs) {
    const stem = path.basename(file, path.extname(file));
    const other = stems.get(stem);
    if (other !== undefined) throw new RetinaFaceError(`${other} and ${file} would both write ${stem}_<k>.png`, { file: path.join(dir, `${stem}.json`), code: 'EEXIST' });
    stems.set(stem, file);
  }

  const detector = await loadDetector(args, progress);
  return forEachInput(inputs, detector, io, quiet, async (file) => {
    const bytes = await fs.readFile(file).catch((e: unknown) => {
      throw new RetinaFaceError(describeFsError(e), { file, code: 'EREAD' });
    });
    const rgb = detector.decode(bytes, maxPixels === undefined ? {} : { maxPixels }, file); // decoded once
    const faces = await detector.detect(rgb, { visThreshold }, file);
    const aligned = alignFaces(rgb, faces, { size, template });
    const stem = path.basename(file, path.extname(file));
    const crops = aligned.map((_, k) => `${stem}_${k}.png`);
    const jsonFile = path.join(dir, `${stem}.json`);
    const stale = await staleCrops(jsonFile, dir, new Set(crops));
    const round = (v: number) => Math.round(v * 1e4) / 1e4;
    for (let k = 0; k < aligned.length; k++) await writeFileAtomic(path.join(dir, crops[k]!), encodeImage(aligned[k]!, 'png'));
    const json: AlignJson = {
      image: file, width: rgb.width, height: rgb.height, size,
      faces: faces.map((face, k) => ({ face, crop: aligned[k]! })).map(({ face, crop }, k) => ({
        score: round(face.score), box: face.box.map(round), landmarks: face.landmarks.map((p) => p.map(round)),
        matrix: crop.matrix.map((row) => row.map((v) => Math.round(v * 1e8) / 1e8)), crop: crops[k]!,
      })),
    };
    await writeFileAtomic(jsonFile, new TextEncoder().encode(compactJson(json)));
    for (const s of stale) await fs.rm(s, { force: true });
    return `${file}: ${aligned.length} face${aligned.length === 1 ? '' : 's'} (score >= ${visThreshold}) -> ${path.join(dir, `${stem}_*.png`)}, ${jsonFile}`;
  });
}
