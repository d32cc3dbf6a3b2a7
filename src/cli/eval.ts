// `retinaface eval --pred DIR --gt DIR`: the WIDER FACE validation AP (easy, medium, hard) of a
// folder of predictions in the submission format (`retinaface detect --wider_out DIR` writes
// one), against the official ground truth: wider_face_val_bbx_gt.txt and
// wider_{easy,medium,hard}_val.mat (src/eval/widerface.ts has the protocol, matlab.ts the reader).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RetinaFaceError } from '../errors.js';
import { readMat } from '../eval/matlab.js';
import { evaluateSetting, normaliseScores, parseGroundTruthTxt, parsePredictionFile, prCurveSvg, settingFromMat, SETTINGS, type Predictions, type SettingResult } from '../eval/widerface.js';
import { describeFsError, writeFileAtomic } from '../weights/files.js';
import { stringOption, UsageError, type CommandSpec } from './args.js';
import { compactJson, writableDir } from './detect.js';

/** Ground-truth and prediction files larger than this are refused before reading (the official .mat files are under 1 MB, the txt 1.2 MB). */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

async function readBounded(file: string, what: string): Promise<Uint8Array> {
  let size: number;
  try {
    const s = await fs.stat(file);
    if (!s.isFile()) throw new RetinaFaceError(`${what} is not a file`, { file, code: 'ENOENT' });
    size = s.size;
  } catch (e) {
    if (e instanceof RetinaFaceError) throw e;
    throw new RetinaFaceError(`${what}: ${describeFsError(e)}`, { file, code: 'ENOENT' });
  }
  if (size > MAX_FILE_BYTES) throw new RetinaFaceError(`${what} is ${size} bytes, over ${MAX_FILE_BYTES}`, { file, code: 'ETOOBIG' });
  return new Uint8Array(await fs.readFile(file));
}

/** DIR/<event>/<image>.txt, every file of every event folder. */
export async function readPredictions(dir: string): Promise<{ pred: Predictions; files: number }> {
  let events: string[];
  try {
    events = (await fs.readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch (e) {
    throw new RetinaFaceError(`the predictions folder: ${describeFsError(e)}`, { file: dir, code: 'ENOENT' });
  }
  if (events.length === 0) throw new RetinaFaceError('the predictions folder holds no event folder (DIR/<event>/<image>.txt, as detect --wider_out writes)', { file: dir, code: 'ENOENT' });
  const pred: Predictions = new Map();
  let files = 0;
  for (const ev of events) {
    const m = new Map<string, Float64Array>();
    for (const f of (await fs.readdir(path.join(dir, ev))).filter((n) => n.endsWith('.txt')).sort()) {
      const file = path.join(dir, ev, f);
      const p = parsePredictionFile(new TextDecoder().decode(await readBounded(file, 'a prediction file')), file);
      m.set(p.image, p.boxes);
      files++;
    }
    pred.set(ev, m);
  }
  return { pred, files };
}

export const evalCommand: CommandSpec = {
  name: 'eval',
  summary: 'WIDER FACE validation AP (easy, medium, hard) of a folder of predictions (detect --wider_out)',
  positionals: [],
  options: [
    { name: 'pred', value: 'DIR', help: 'the predictions: DIR/<event>/<image>.txt in the WIDER submission format (retinaface detect --wider_out DIR)' },
    { name: 'gt', value: 'DIR', help: 'the official ground truth: wider_easy_val.mat, wider_medium_val.mat, wider_hard_val.mat (eval_tools/ground_truth) and wider_face_val_bbx_gt.txt (wider_face_split), or --gt_txt' },
    { name: 'gt_txt', value: 'FILE', help: 'wider_face_val_bbx_gt.txt, when it is not in --gt DIR' },
    { name: 'svg', value: 'FILE', help: 'write the three PR curves as an SVG' },
    { name: 'json', value: 'FILE', help: 'write the APs and the PR curves (1000 thresholds) as JSON' },
  ],
  async run(args, io) {
    const predDir = stringOption(args, 'pred');
    const gtDir = stringOption(args, 'gt');
    if (predDir === undefined || gtDir === undefined) throw new UsageError('eval needs --pred DIR and --gt DIR');
    const svg = stringOption(args, 'svg'), json = stringOption(args, 'json');
    for (const out of [svg, json]) if (out !== undefined) await writableDir(path.dirname(path.resolve(out)), `the folder of ${out}`);
    const txt = stringOption(args, 'gt_txt') ?? path.join(gtDir, 'wider_face_val_bbx_gt.txt');
    const gt = parseGroundTruthTxt(new TextDecoder().decode(await readBounded(txt, 'the ground-truth boxes')), txt);
    const lists = await Promise.all(SETTINGS.map(async (s) => {
      const file = path.join(gtDir, `wider_${s}_val.mat`);
      return settingFromMat(readMat(await readBounded(file, `the ${s} setting`), file), file);
    }));
    const { pred, files } = await readPredictions(predDir);
    normaliseScores(pred);
    io.err(`retinaface eval: ${files} prediction files in ${pred.size} events, ${gt.size} images of ground truth`);
    const results: SettingResult[] = SETTINGS.map((s, i) => evaluateSetting(s, lists[i]!, gt, pred, predDir));
    for (const r of results) io.out(`${r.setting.padEnd(6)} AP ${r.ap.toFixed(4)} (${r.faces} faces)`);
    if (svg !== undefined) await writeFileAtomic(svg, new TextEncoder().encode(prCurveSvg(results, `WIDER FACE val: ${path.basename(path.resolve(predDir))}`)));
    if (json !== undefined) {
      await writeFileAtomic(json, new TextEncoder().encode(compactJson({
        pred: predDir, iou: 0.5, thresholds: 1000,
        settings: results.map((r) => ({ setting: r.setting, ap: r.ap, faces: r.faces, precision: [...r.precision].map((v) => (Number.isFinite(v) ? v : null)), recall: [...r.recall] })),
      })));
    }
    return 0;
  },
};
