// The explorer's module tree and the selected module's panel: facts from the trace, its time, its
// values, its channels as a grid on one labelled colour scale, and a picked channel large over
// the photo. What each part of the network is comes with a link to docs/architecture.md's section.
import type { Arch } from '../../src/browser.js';
import type { ModuleAnatomy } from '../../src/model/anatomy.js';
import { channelImage, drawGrid, drawScaleBar, type Maps, type Stats } from './activations.js';
import type { ExploreRun } from './explore.js';

export interface ModuleView {
  info: ModuleAnatomy;
  stats: Stats;
  maps: Maps | null;
  /** median over the timed passes: its own ops, and with its descendants' */
  ms: { own: number; total: number };
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** docs/architecture.md rendered beside the page (build.ts), and its sections' anchors. */
const DOC = 'lib/architecture.html';
const SECTION = {
  blocks: `${DOC}#the-blocks`,
  pyramid: `${DOC}#the-pyramid-and-the-context-modules`,
  conventions: `${DOC}#conventions-that-decide-every-number`,
  after: `${DOC}#after-the-network-priors-decode-suppression`,
  shapes: `${DOC}#shapes-and-work-at-640x640`,
};

/** What a module path is, in a sentence, and the section of docs/architecture.md that explains it. */
export function describe(path: string, arch: Arch): { text: string; href: string } {
  const top = path.split('.')[0]!;
  if (top === 'body') {
    const backbone = arch === 'mobile0.25'
      ? 'MobileNetV1-0.25 backbone: conv_bn, then conv_dw blocks (depthwise 3x3 + pointwise 1x1, each with batch norm and LeakyReLU 0.1)'
      : 'ResNet-50 backbone (torchvision): a 7x7/2 stem, max pool, then bottlenecks (1x1, 3x3, 1x1, with an identity or downsample shortcut)';
    const feeds = /^body\.(stage[123]|layer[234])$/.test(path) ? ' This output feeds the FPN.' : '';
    return { text: `${backbone}.${feeds}`, href: SECTION.blocks };
  }
  if (/^fpn\.output\d$/.test(path)) return { text: 'FPN lateral: a 1x1 conv (with batch norm) bringing one backbone level to out_channel.', href: SECTION.pyramid };
  if (/^fpn\.merge\d$/.test(path)) return { text: 'FPN top-down step: the coarser level upsampled (nearest, to this size), added to the lateral, then a 3x3 conv.', href: SECTION.pyramid };
  if (/^ssh\d(\.|$)/.test(path)) {
    return { text: 'SSH context module: a 3x3 branch (half the channels) and 5x5 and 7x7 branches made of stacked 3x3 convs (a quarter each), concatenated, then one ReLU.', href: SECTION.pyramid };
  }
  const head = /^(ClassHead|BboxHead|LandmarkHead)\.(\d)$/.exec(path);
  if (head !== null) {
    const k = head[1] === 'ClassHead' ? '2 scores' : head[1] === 'BboxHead' ? '4 box offsets' : '10 landmark offsets';
    return { text: `Level ${Number(head[2]) + 1}'s ${head[1]}: a 1x1 conv with bias giving ${k} per anchor (2 anchors per cell), permuted to one row per anchor. Shown as maps: channel a·k+j is anchor a's column j.`, href: SECTION.conventions };
  }
  if (path === 'loc' || path === 'conf' || path === 'landms') {
    return { text: `The three levels' ${path} rows concatenated along the anchors${path === 'conf' ? ', then softmax over (background, face)' : ''}: what the post-processing decodes.`, href: SECTION.after };
  }
  return { text: '', href: SECTION.shapes };
}

const fmt = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));
const ms = (x: number) => (Number.isNaN(x) ? '–' : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const px = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
export const shapeText = (s: readonly number[]) => `(${s.join(', ')})`;

/** The tree of module paths (groups such as `body` that report no output of their own are folders). */
export function renderTree(run: ExploreRun, select: (path: string) => void): void {
  const root = $<HTMLDivElement>('tree');
  root.replaceChildren();
  const containers = new Map<string, HTMLElement>([['', root]]);
  const container = (prefix: string): HTMLElement => {
    const have = containers.get(prefix);
    if (have !== undefined) return have;
    const cut = prefix.lastIndexOf('.');
    const parent = container(cut < 0 ? '' : prefix.slice(0, cut));
    const det = document.createElement('details');
    det.open = prefix.split('.').length < 3;
    const sum = document.createElement('summary');
    sum.textContent = prefix.slice(cut + 1);
    sum.className = 'group';
    sum.dataset.group = prefix;
    det.append(sum);
    parent.append(det);
    containers.set(prefix, det);
    return det;
  };
  // Modules with children become folders whose summary is the module itself.
  const hasChildren = new Set(run.anatomy.modules.map((m) => m.parent).filter((p): p is string => p !== null));
  for (const m of run.anatomy.modules) {
    const v = run.views.get(m.path)!;
    const cut = m.path.lastIndexOf('.');
    const label = `${m.path.slice(cut + 1)} <span class="dim">${shapeText(m.shape)} · ${ms(v.ms.total)} ms</span>`;
    let item: HTMLElement;
    if (hasChildren.has(m.path)) {
      const det = container(m.path);
      item = det.querySelector('summary')!;
      item.classList.remove('group');
    } else {
      item = document.createElement('div');
      item.className = 'leaf';
      container(cut < 0 ? '' : m.path.slice(0, cut)).append(item);
    }
    item.innerHTML = label;
    item.setAttribute('role', 'treeitem');
    item.dataset.path = m.path;
    item.addEventListener('click', () => select(m.path));
  }
}

let picked = 0;

/** The selected module's panel. */
export function showModule(run: ExploreRun, v: ModuleView): void {
  const m = v.info;
  for (const el of document.querySelectorAll('#tree [aria-selected]')) el.removeAttribute('aria-selected');
  const item = document.querySelector(`#tree [data-path="${CSS.escape(m.path)}"]`);
  item?.setAttribute('aria-selected', 'true');
  for (let d = item?.parentElement?.closest('details'); d; d = d.parentElement?.closest('details')) d.open = true;
  $('module-path').textContent = m.path;
  const about = describe(m.path, run.arch);
  $('module-about').innerHTML = `${about.text} <a href="${about.href}" target="_blank">docs/architecture.md</a>`;
  $('fact-shape').textContent = shapeText(m.shape);
  const kinds = [...new Set(m.ops.map((o) => (o.op === 'conv' ? `conv ${o.kind}` : o.op)))];
  $('fact-ops').textContent = `${m.ops.length}: ${kinds.join(', ')}`;
  $('fact-macs').textContent = `${fmt(m.macs)}MAC`.replace(/^(\d+)MAC$/, '$1 MAC');
  $('fact-params').textContent = fmt(m.params);
  $('fact-stride').textContent = m.geometry === undefined ? '– (rows of anchors)' : `${px(m.geometry.jump)} px`;
  $('fact-rf').textContent = m.geometry === undefined ? '–' : `${px(m.geometry.rf)} px`;
  $('fact-time').textContent = `${ms(v.ms.total)} ms on ${run.backend}${v.ms.total !== v.ms.own ? ` (own ops ${ms(v.ms.own)} ms)` : ''}`;
  const s = v.stats;
  $('fact-stats').textContent = `min ${s.min.toPrecision(4)}, max ${s.max.toPrecision(4)}, mean ${s.mean.toPrecision(4)}, std ${s.std.toPrecision(4)}, zeros ${((100 * s.zeros) / s.count).toFixed(1)} %`;
  const maps = v.maps;
  $('scale').hidden = maps === null;
  const grid = $<HTMLCanvasElement>('grid');
  const big = $<HTMLCanvasElement>('channel');
  if (maps === null) {
    $('grid-note').textContent = 'Rows of all levels concatenated: no map (pick a head of one level to see its maps).';
    grid.hidden = true;
    big.hidden = true;
    $('channel-title').textContent = '';
    return;
  }
  grid.hidden = false;
  big.hidden = false;
  drawScaleBar($<HTMLCanvasElement>('scale-bar'), maps.scale);
  const clip = maps.scale.clipped ? '(0.1 % of the values lie past the ends, drawn in the end colours)' : '';
  $('scale-min').textContent = `${maps.scale.clipped ? '≤ ' : ''}${maps.scale.lo.toPrecision(3)}`;
  $('scale-zero').textContent = maps.scale.diverging ? '· 0 (white) ·' : '';
  $('scale-max').textContent = `${maps.scale.clipped ? '≥ ' : ''}${maps.scale.hi.toPrecision(3)} ${clip}`;
  $('grid-note').textContent = `${maps.channels} channels, one colour scale for all (${maps.scale.diverging ? 'diverging around 0' : 'min to max'})` +
    `${maps.factor > 1 ? `; each cell the mean of ${maps.factor}x${maps.factor} outputs (kept at most 4 MB per module)` : ''}. Click a channel to see it over the photo.`;
  const L = drawGrid(grid, maps, 640);
  grid.onclick = (e) => {
    const r = grid.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * grid.width, y = ((e.clientY - r.top) / r.height) * grid.height;
    const c = Math.floor(y / (L.cellH + 1)) * L.cols + Math.floor(x / (L.cellW + 1));
    if (c >= 0 && c < maps.channels) showChannel(run, v, c);
  };
  showChannel(run, v, Math.min(picked, maps.channels - 1));
}

/** Channel c of the module large over the photo: the map stretched over the input pixels it covers. */
export function showChannel(run: ExploreRun, v: ModuleView, c: number): void {
  picked = c;
  const maps = v.maps!;
  const img = run.image;
  const canvas = $<HTMLCanvasElement>('channel');
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d')!;
  ctx.putImageData(photoImage(run), 0, 0);
  const tile = document.createElement('canvas');
  tile.width = maps.width;
  tile.height = maps.height;
  tile.getContext('2d')!.putImageData(channelImage(maps, c, 200), 0, 0);
  // One map cell covers stride x factor input pixels (head maps: their level's stride).
  const stride = v.info.geometry?.jump ?? img.width / (maps.width * maps.factor);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tile, 0, 0, maps.width * maps.factor * stride, maps.height * maps.factor * stride);
  $('channel-title').textContent = `${v.info.path}, channel ${c} of ${maps.channels}, over the photo (one cell = ${px(stride * maps.factor)} px)`;
}

let photo: { run: ExploreRun; data: ImageData } | null = null;

/** The run's photo as RGBA (made once per run). */
export function photoImage(run: ExploreRun): ImageData {
  if (photo?.run === run) return photo.data;
  const { width, height, data } = run.image;
  const out = new ImageData(width, height);
  for (let i = 0, j = 0; i < width * height; i++, j += 3) {
    out.data[4 * i] = data[j]!;
    out.data[4 * i + 1] = data[j + 1]!;
    out.data[4 * i + 2] = data[j + 2]!;
    out.data[4 * i + 3] = 255;
  }
  photo = { run, data: out };
  return out;
}
