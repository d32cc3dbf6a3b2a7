// The explorer's heads view: each pyramid level's anchors over the photo (a dot per cell at the
// level's step, the min-size squares at one cell), the faces, and for a chosen face which level
// and anchor produced it, its raw loc / conf / landms and the decode step by step to the box kept
// by NMS (with the candidates it suppressed).
import type { Face } from '../../src/browser.js';
import { DEFAULT_PRIOR_CONFIG } from '../../src/detect/priors.js';
import type { Proposals } from '../../src/detect/postprocess.js';
import type { NetworkOutput } from '../../src/model/run.js';
import type { RgbImage } from '../../src/image/image.js';
import { anchorPlace, decodeSteps, drawLevel, LEVEL_COLOURS, suppressionCounts, type DecodeSteps } from './heads.js';

export interface HeadsRun {
  raw: NetworkOutput;
  proposals: Proposals;
  /** the candidates NMS kept, best first (suppress()'s order) */
  keep: number[];
  width: number;
  height: number;
  image: RgbImage;
  /** the visible faces (score >= 0.6) with their anchor and candidate index */
  faces: { face: Face; anchor: number; candidate: number }[];
}

/** What the heads view shows for the chosen face (the test reads it). */
export interface FaceDecode extends DecodeSteps {
  face: Face;
  /** proposals (score > 0.02, top 5000) this face's box suppressed: IoU > 0.4 with a lower score */
  suppressed: number;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const levelsOn = new Set([0, 1, 2]);
let run: HeadsRun | null = null;
let chosen: number | null = null;
export let shownDecode: FaceDecode | null = null;

/** Per candidate, how many it suppressed (computed on the first face chosen in a run). */
let counts: Int32Array | null = null;

export function renderHeads(r: HeadsRun): void {
  run = r;
  counts = null;
  chosen = r.faces.length > 0 ? 0 : null;
  const levels = $('levels');
  levels.replaceChildren(...DEFAULT_PRIOR_CONFIG.steps.map((step, k) => {
    const l = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = levelsOn.has(k);
    box.dataset.level = String(k);
    box.addEventListener('change', () => { if (box.checked) levelsOn.add(k); else levelsOn.delete(k); draw(); });
    const rows = Math.ceil(r.height / step), cols = Math.ceil(r.width / step);
    l.append(box, ` level ${k + 1} (ssh${k + 1}): step ${step}, ${rows} x ${cols} cells, min sizes ${DEFAULT_PRIOR_CONFIG.minSizes[k]!.join(', ')}, ${rows * cols * 2} anchors`);
    l.style.color = LEVEL_COLOURS[k]!;
    return l;
  }));
  const list = $<HTMLOListElement>('faces');
  list.replaceChildren(...r.faces.map((f, i) => {
    const li = document.createElement('li');
    li.dataset.face = String(i);
    li.textContent = `${f.face.score.toFixed(3)} at (${f.face.box.map((v) => v.toFixed(0)).join(', ')})`;
    li.addEventListener('click', () => chooseFace(i));
    return li;
  }));
  $('face-count').textContent = `(${r.faces.length} at score >= 0.6)`;
  if (chosen !== null) chooseFace(chosen);
  else {
    $('steps').textContent = 'No face at score >= 0.6 on this photo.';
    draw();
  }
}

/** Shows face i's decode and draws its anchor. */
export function chooseFace(i: number): FaceDecode | null {
  if (run === null || run.faces[i] === undefined) return null;
  chosen = i;
  for (const li of $('faces').children) li.setAttribute('aria-selected', String((li as HTMLElement).dataset.face === String(i)));
  const f = run.faces[i]!;
  const d = decodeSteps(run.raw, f.anchor, run.height, run.width);
  counts ??= suppressionCounts(run.proposals.boxes, run.proposals.scores.length, 0.4);
  shownDecode = { ...d, face: f.face, suppressed: counts[f.candidate]! };
  $('steps').innerHTML = stepsHtml(shownDecode, run);
  draw();
  return shownDecode;
}

const n = (v: number, digits = 4) => v.toFixed(digits);
const list = (xs: readonly number[], digits = 4) => xs.map((v) => n(v, digits)).join(', ');

function stepsHtml(d: FaceDecode, r: HeadsRun): string {
  const pl = d.place;
  const [v0, v1] = DEFAULT_PRIOR_CONFIG.variance;
  const rows: [string, string][] = [
    ['anchor', `#${d.anchor} of ${r.raw.loc.shape[0]}: level ${pl.level + 1} (ssh${pl.level + 1}, step ${pl.step}), cell row ${pl.row}, column ${pl.col} of ${pl.rows} x ${pl.cols}, min size ${pl.minSize} (anchor ${pl.which} of the cell)`],
    ['prior', `cx, cy, w, h = ${list(d.prior, 5)} (normalised) = ${list(d.priorPx, 1)} px`],
    ['raw loc', list(d.loc)],
    ['raw conf', `background ${n(d.conf[0]!)}, face ${n(d.conf[1]!)} (after the softmax)`],
    ['raw landms', list(d.landms)],
    ['centre', `prior_c + loc_c x ${v0} x prior_wh = (${list(d.centrePx.slice(0, 2), 2)}) px`],
    ['size', `prior_wh x exp(loc_wh x ${v1}) = ${list(d.centrePx.slice(2), 2)} px`],
    ['box', `centre -/+ size / 2 = (${list(d.box, 2)})`],
    ['landmarks', `prior_c + landm x ${v0} x prior_wh: ${[0, 1, 2, 3, 4].map((k) => `(${list(d.landmarks.slice(2 * k, 2 * k + 2), 1)})`).join(' ')}`],
    ['after NMS', `kept (score ${n(d.face.score)} > 0.02, in the top 5000, IoU 0.4): box (${list(d.face.box as number[], 2)}); it suppressed ${d.suppressed} overlapping candidate${d.suppressed === 1 ? '' : 's'}`],
  ];
  return `<table id="decode-steps">${rows.map(([k, v]) => `<tr><th>${k}</th><td data-step="${k}">${v}</td></tr>`).join('')}</table>`;
}

function draw(): void {
  if (run === null) return;
  const canvas = $<HTMLCanvasElement>('heads-canvas');
  canvas.width = run.width;
  canvas.height = run.height;
  const ctx = canvas.getContext('2d')!;
  const img = new ImageData(run.width, run.height);
  const src = run.image.data;
  // The photo dimmed, so that the anchors read over it.
  for (let i = 0, j = 0; i < run.width * run.height; i++, j += 3) {
    img.data[4 * i] = src[j]! * 0.6;
    img.data[4 * i + 1] = src[j + 1]! * 0.6;
    img.data[4 * i + 2] = src[j + 2]! * 0.6;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  const at = chosen === null ? null : anchorPlace(run.faces[chosen]!.anchor, run.height, run.width);
  for (const k of levelsOn) drawLevel(ctx, k, run.height, run.width, at !== null && at.level === k ? at : undefined);
  ctx.lineWidth = Math.max(1, run.width / 800);
  for (const [i, f] of run.faces.entries()) {
    ctx.strokeStyle = i === chosen ? '#00e676' : '#ffffff99';
    const [x1, y1, x2, y2] = f.face.box;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  }
  if (chosen !== null && shownDecode !== null) {
    ctx.fillStyle = '#00e676';
    for (let k = 0; k < 5; k++) ctx.fillRect(shownDecode.landmarks[2 * k]! - 2, shownDecode.landmarks[2 * k + 1]! - 2, 4, 4);
  }
}
