// The WIDER FACE validation protocol, as the official evaluation computes it (the MATLAB
// eval_tools, and its Python port in the reference repository, widerface_evaluate/evaluation.py):
//  - ground truth: each image's boxes (x, y, w, h) from wider_face_val_bbx_gt.txt; per setting
//    (easy, medium, hard) the faces that count, from wider_{easy,medium,hard}_val.mat (gt_list:
//    1-based indices per image; the other faces are "ignored": matching one is neither a hit nor
//    a false positive), and the event and file lists that fix the order;
//  - predictions: one file per image, <event>/<image>.txt: the image name, a count, then
//    "x y w h score" lines, best score first (`retinaface detect --wider_out DIR` writes them);
//  - scores normalised to [0, 1] by the minimum and maximum over all predictions;
//  - per image, each prediction in file order is matched to the ground-truth box it overlaps most
//    (IoU with the +1 pixel convention), a hit when IoU >= 0.5;
//  - the PR curve at 1000 thresholds (1 - (t + 1) / 1000), summed over images, and the VOC AP
//    (the area under the precision envelope) per setting.
// Arithmetic in float64 in the official code's order, so the APs equal its output.
import { RetinaFaceError } from '../errors.js';
import type { MatValue } from './matlab.js';

export const SETTINGS = ['easy', 'medium', 'hard'] as const;
export type Setting = (typeof SETTINGS)[number];
export const THRESH_NUM = 1000;
export const IOU_THRESH = 0.5;

/** One setting's .mat: the event names, each event's image names, and each image's counted faces (1-based). */
export interface SettingList {
  events: { name: string; images: { name: string; keep: number[] }[] }[];
}

/** Per image ("event/name", no extension): its ground-truth boxes, (n, 4) x y w h. */
export type GroundTruthBoxes = Map<string, Float64Array>;

/** Per event, per image name (no extension): predictions (n, 5) x y w h score, in file order. */
export type Predictions = Map<string, Map<string, Float64Array>>;

export interface SettingResult {
  setting: Setting;
  ap: number;
  /** faces counted (the setting's) */
  faces: number;
  /** per threshold t: precision and recall */
  precision: Float64Array;
  recall: Float64Array;
}

const fail = (file: string, what: string): never => {
  throw new RetinaFaceError(what, { file, code: 'EFORMAT' });
};

/** wider_face_val_bbx_gt.txt: "event/name.jpg", the face count, then one line per face (x y w h and six attribute flags). */
export function parseGroundTruthTxt(text: string, file: string): GroundTruthBoxes {
  const lines = text.split(/\r?\n/);
  const out: GroundTruthBoxes = new Map();
  for (let i = 0; i < lines.length;) {
    const name = lines[i]!.trim();
    if (name === '') { i++; continue; }
    if (!/\.jpe?g$/i.test(name)) fail(file, `line ${i + 1}: expected an image path (event/name.jpg), got "${name.slice(0, 60)}"`);
    const count = Number(lines[i + 1]?.trim());
    if (!Number.isInteger(count) || count < 0) fail(file, `line ${i + 2}: expected the face count of ${name}, got "${(lines[i + 1] ?? '').slice(0, 60)}"`);
    if (count > lines.length) fail(file, `line ${i + 2}: ${count} faces for ${name}, more than the file's lines`);
    const boxes = new Float64Array(4 * count);
    for (let k = 0; k < count; k++) {
      const parts = (lines[i + 2 + k] ?? '').trim().split(/\s+/).map(Number);
      if (parts.length < 4 || parts.slice(0, 4).some((v) => !Number.isFinite(v))) fail(file, `line ${i + 3 + k}: expected x y w h ... for face ${k + 1} of ${name}`);
      boxes.set(parts.slice(0, 4), 4 * k);
    }
    // An image without faces has one line of zeros in place of its boxes.
    i += 2 + Math.max(count, 1);
    out.set(name.replace(/\.jpe?g$/i, ''), boxes);
  }
  if (out.size === 0) fail(file, 'no images in the ground-truth file');
  return out;
}

const cellOf = (v: MatValue | undefined, what: string, file: string): MatValue[] => (v?.kind === 'cell' ? v.cells : fail(file, `${what} is not a cell array`));
const charOf = (v: MatValue | undefined, what: string, file: string): string => (v?.kind === 'char' ? v.text : fail(file, `${what} is not a char array`));

/** wider_{easy,medium,hard}_val.mat: event_list {events x 1} of names, file_list {events x 1} of {images x 1} names, gt_list likewise of index columns. */
export function settingFromMat(vars: Map<string, MatValue>, file: string): SettingList {
  for (const k of ['event_list', 'file_list', 'gt_list']) if (!vars.has(k)) fail(file, `no variable ${k} (a wider_*_val.mat file has event_list, file_list and gt_list)`);
  const events = cellOf(vars.get('event_list'), 'event_list', file);
  const files = cellOf(vars.get('file_list'), 'file_list', file);
  const gts = cellOf(vars.get('gt_list'), 'gt_list', file);
  if (files.length !== events.length || gts.length !== events.length) fail(file, `${events.length} events, ${files.length} file lists, ${gts.length} gt lists`);
  return {
    events: events.map((e, i) => {
      const name = charOf(e, `event_list{${i + 1}}`, file);
      const imgs = cellOf(files[i], `file_list{${i + 1}}`, file);
      const keeps = cellOf(gts[i], `gt_list{${i + 1}}`, file);
      if (keeps.length !== imgs.length) fail(file, `event ${name}: ${imgs.length} images, ${keeps.length} gt lists`);
      return {
        name,
        images: imgs.map((im, j) => {
          const k = keeps[j]!;
          if (k.kind !== 'numeric' || k.data.some((v) => !Number.isInteger(v) || v < 1)) fail(file, `gt_list{${i + 1}}{${j + 1}} is not a list of 1-based face indices`);
          return { name: charOf(im, `file_list{${i + 1}}{${j + 1}}`, file), keep: [...(k as { data: Float64Array }).data] };
        }),
      };
    }),
  };
}

/** One prediction file: the image name line, the count line, then "x y w h score" lines (as read_pred_file reads it). */
export function parsePredictionFile(text: string, file: string): { image: string; boxes: Float64Array } {
  const lines = text.split(/\r?\n/);
  if (lines.length < 2) fail(file, 'a prediction file has the image name, the count, then one "x y w h score" line per face');
  const rows: number[] = [];
  for (let i = 2; i < lines.length; i++) {
    const parts = lines[i]!.trim().split(/\s+/);
    if (parts[0] === '') continue;
    const v = parts.slice(0, 5).map(Number);
    if (v.length < 5 || v.some((x) => !Number.isFinite(x))) fail(file, `line ${i + 1}: expected "x y w h score", got "${lines[i]!.slice(0, 60)}"`);
    rows.push(...v);
  }
  return { image: lines[0]!.trim().split('/').pop()!.replace(/\.jpe?g$/i, ''), boxes: Float64Array.from(rows) };
}

/** norm_score: every score to (s - min) / (max - min) over all predictions. */
export function normaliseScores(pred: Predictions): void {
  let max = 0, min = 1;
  for (const ev of pred.values()) for (const b of ev.values()) for (let k = 4; k < b.length; k += 5) { max = Math.max(max, b[k]!); min = Math.min(min, b[k]!); }
  const diff = max - min;
  for (const ev of pred.values()) for (const b of ev.values()) for (let k = 4; k < b.length; k += 5) b[k] = (b[k]! - min) / diff;
}

/** image_eval: per prediction, the recalled faces so far and whether it is a proposal (1) or matched an ignored face (-1). */
export function imageEval(pred: Float64Array, gt: Float64Array, ignore: Uint8Array, iouThresh: number): { predRecall: Float64Array; proposal: Float64Array } {
  const n = pred.length / 5, m = gt.length / 4;
  const predRecall = new Float64Array(n), recall = new Float64Array(m), proposal = new Float64Array(n).fill(1);
  let recalled = 0;
  for (let h = 0; h < n; h++) {
    const x1 = pred[5 * h]!, y1 = pred[5 * h + 1]!, x2 = pred[5 * h + 2]! + x1, y2 = pred[5 * h + 3]! + y1;
    const area = (x2 - x1 + 1) * (y2 - y1 + 1);
    let best = -1, bestIdx = 0;
    for (let g = 0; g < m; g++) {
      const gx1 = gt[4 * g]!, gy1 = gt[4 * g + 1]!, gx2 = gt[4 * g + 2]! + gx1, gy2 = gt[4 * g + 3]! + gy1;
      // bbox_overlaps (box_overlaps.pyx): zero unless both sides overlap
      let o = 0;
      const iw = Math.min(x2, gx2) - Math.max(x1, gx1) + 1;
      if (iw > 0) {
        const ih = Math.min(y2, gy2) - Math.max(y1, gy1) + 1;
        if (ih > 0) {
          const ua = (gx2 - gx1 + 1) * (gy2 - gy1 + 1) + area - iw * ih;
          o = (iw * ih) / ua;
        }
      }
      if (o > best) { best = o; bestIdx = g; }
    }
    if (best >= iouThresh) {
      if (ignore[bestIdx] === 0) {
        recall[bestIdx] = -1;
        proposal[h] = -1;
      } else if (recall[bestIdx] === 0) {
        recall[bestIdx] = 1;
        recalled++;
      }
    }
    predRecall[h] = recalled;
  }
  return { predRecall, proposal };
}

/** img_pr_info: per threshold, the proposals and the recalled faces among the predictions scoring at least it. */
export function imagePrInfo(pred: Float64Array, proposal: Float64Array, predRecall: Float64Array, into: Float64Array): void {
  const n = pred.length / 5;
  for (let t = 0; t < THRESH_NUM; t++) {
    const thresh = 1 - (t + 1) / THRESH_NUM;
    let r = -1;
    for (let i = 0; i < n; i++) if (pred[5 * i + 4]! >= thresh) r = i;
    if (r < 0) continue;
    let p = 0;
    for (let i = 0; i <= r; i++) if (proposal[i] === 1) p++;
    into[2 * t] += p;
    into[2 * t + 1] += predRecall[r]!;
  }
}

/** voc_ap: the area under the precision envelope over recall. */
export function vocAp(rec: Float64Array, prec: Float64Array): number {
  const mrec = [0, ...rec, 1], mpre = [0, ...prec, 0];
  for (let i = mpre.length - 1; i > 0; i--) mpre[i - 1] = Math.max(mpre[i - 1]!, mpre[i]!);
  let ap = 0;
  for (let i = 0; i + 1 < mrec.length; i++) if (mrec[i + 1] !== mrec[i]) ap += (mrec[i + 1]! - mrec[i]!) * mpre[i + 1]!;
  return ap;
}

/**
 * The evaluation of one setting. Scores must be normalised already (normaliseScores). Every image
 * of the setting's lists must have ground truth and predictions (the official code stops on a
 * missing one; this throws naming it).
 */
export function evaluateSetting(setting: Setting, list: SettingList, gt: GroundTruthBoxes, pred: Predictions, predDir: string): SettingResult {
  const pr = new Float64Array(2 * THRESH_NUM);
  let faces = 0;
  for (const ev of list.events) {
    const evPred = pred.get(ev.name);
    if (evPred === undefined) throw new RetinaFaceError(`no predictions for event ${ev.name} (expected the folder ${ev.name}/)`, { file: predDir, code: 'ENOENT' });
    for (const im of ev.images) {
      const p = evPred.get(im.name);
      if (p === undefined) throw new RetinaFaceError(`no prediction file ${ev.name}/${im.name}.txt`, { file: predDir, code: 'ENOENT' });
      const g = gt.get(`${ev.name}/${im.name}`);
      if (g === undefined) throw new RetinaFaceError(`the ground-truth file has no image ${ev.name}/${im.name}.jpg`, { code: 'EFORMAT' });
      faces += im.keep.length;
      if (g.length === 0 || p.length === 0) continue;
      const ignore = new Uint8Array(g.length / 4);
      for (const k of im.keep) {
        if (k > ignore.length) throw new RetinaFaceError(`${setting}: face ${k} of ${ev.name}/${im.name}, which has ${ignore.length} faces`, { code: 'EFORMAT' });
        ignore[k - 1] = 1;
      }
      const { predRecall, proposal } = imageEval(p, g, ignore, IOU_THRESH);
      imagePrInfo(p, proposal, predRecall, pr);
    }
  }
  const precision = new Float64Array(THRESH_NUM), recall = new Float64Array(THRESH_NUM);
  for (let t = 0; t < THRESH_NUM; t++) {
    precision[t] = pr[2 * t + 1]! / pr[2 * t]!;
    recall[t] = pr[2 * t + 1]! / faces;
  }
  return { setting, ap: vocAp(recall, precision), faces, precision, recall };
}

/** The PR curves of the settings as an SVG (recall across, precision up), AP in the legend. */
export function prCurveSvg(results: readonly SettingResult[], title: string): string {
  const W = 520, H = 420, L = 56, R = 20, T = 36, B = 48;
  const X = (r: number) => L + r * (W - L - R), Y = (p: number) => H - B - p * (H - T - B);
  const colours = ['#2ca02c', '#1f77b4', '#d62728'];
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`];
  for (let k = 0; k <= 10; k++) {
    const v = k / 10;
    out.push(`<line x1="${X(0)}" x2="${X(1)}" y1="${Y(v)}" y2="${Y(v)}" stroke="#eee"/>`, `<line x1="${X(v)}" x2="${X(v)}" y1="${Y(0)}" y2="${Y(1)}" stroke="#eee"/>`,
      `<text x="${L - 6}" y="${Y(v) + 4}" text-anchor="end">${v.toFixed(1)}</text>`, `<text x="${X(v)}" y="${H - B + 16}" text-anchor="middle">${v.toFixed(1)}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">recall</text>`, `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">precision</text>`);
  results.forEach((r, i) => {
    const pts: string[] = [];
    for (let t = 0; t < r.recall.length; t++) if (Number.isFinite(r.precision[t]!)) pts.push(`${X(r.recall[t]!).toFixed(1)},${Y(r.precision[t]!).toFixed(1)}`);
    out.push(`<polyline fill="none" stroke="${colours[i % 3]}" stroke-width="2" points="${pts.join(' ')}"/>`,
      `<text x="${X(0.05)}" y="${Y(0.3) + 18 * i}" fill="${colours[i % 3]}">${r.setting}: AP ${r.ap.toFixed(4)} (${r.faces} faces)</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
