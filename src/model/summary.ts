// What the network does at a given input size, computed by running the one forward definition
// on the ShapeBackend: every module's output shape, the multiply-accumulates per conv kind, and
// per pyramid level the head input's stride, size, anchors and receptive field.
import type { Geometry, OpRecord } from './shape_backend.js';
import type { Arch } from './config.js';
import { traceForward } from './trace.js';
import { RetinaFace } from './retinaface.js';
import { DEFAULT_PRIOR_CONFIG } from '../detect/priors.js';

/** A pyramid level as the heads see it: the SSH module's output. */
export interface LevelSummary {
  /** the SSH module whose output the heads read: ssh1, ssh2, ssh3 */
  path: string;
  /** input pixels between neighbouring cells (the anchors' step) */
  stride: number;
  height: number;
  width: number;
  /** the anchor sizes of each cell (the reference's min_sizes) */
  minSizes: readonly number[];
  anchors: number;
  /** input pixels (along a side) that can influence one cell: the theoretical receptive field */
  receptiveField: number;
}

export interface NetworkSummary {
  arch: Arch;
  height: number;
  width: number;
  /** module path -> output shape, in forward order */
  modules: [string, number[]][];
  ops: OpRecord[];
  macs: number;
  macsByKind: Map<string, number>;
  anchors: number;
  levels: LevelSummary[];
  /** receptive field and stride of every module output, by path */
  geometry: Map<string, Geometry>;
}

export async function summarize(arch: Arch, height: number, width: number): Promise<NetworkSummary> {
  const { backend: be, forward: f } = traceForward(new RetinaFace(arch), height, width, true);
  const modules: [string, number[]][] = [];
  const geometry = new Map<string, Geometry>();
  for (const [path, t] of f.taps) {
    const tensor = await t;
    modules.push([path, tensor.shape]);
    geometry.set(path, be.geometry(tensor));
  }
  const levels = ['ssh1', 'ssh2', 'ssh3'].map((path, k): LevelSummary => {
    const [, h, w] = modules.find(([p]) => p === path)![1] as [number, number, number];
    const minSizes = DEFAULT_PRIOR_CONFIG.minSizes[k]!;
    const g = geometry.get(path)!;
    return { path, stride: g.jump, height: h, width: w, minSizes, anchors: h * w * minSizes.length, receptiveField: g.rf };
  });
  const macsByKind = new Map<string, number>();
  let macs = 0;
  for (const op of be.ops) {
    if (op.op !== 'conv') continue;
    macs += op.macs;
    macsByKind.set(op.kind!, (macsByKind.get(op.kind!) ?? 0) + op.macs);
  }
  return { arch, height, width, modules, ops: be.ops, macs, macsByKind, anchors: modules.find(([p]) => p === 'loc')![1][0]!, levels, geometry };
}

/** A stride or receptive field: whole where it is (odd input sizes make the upsampled levels' fractional). */
const px = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

/** The tables of docs/architecture.md: the levels; every module's output shape, stride, receptive field and MACs; MACs per conv kind. */
export function summaryMarkdown(s: NetworkSummary): string {
  const macsUnder = (path: string) =>
    s.ops.filter((o) => o.op === 'conv' && (o.path === path || o.path!.startsWith(`${path}.`))).reduce((a, o) => a + o.macs, 0);
  const lines = [
    `${s.arch} at ${s.height}x${s.width} (H x W): ${(s.macs / 1e9).toFixed(3)} GMAC, ${s.anchors} anchors, ${s.ops.length} ops`,
    '',
    '| level (heads read) | stride | map (H x W) | min_sizes | anchors | receptive field |',
    '|---|---|---|---|---|---|',
    ...s.levels.map((l, k) => `| ${k + 1} (\`${l.path}\`) | ${px(l.stride)} | ${l.height} x ${l.width} | ${l.minSizes.join(', ')} | ${l.anchors} | ${px(l.receptiveField)} |`),
    '',
    '| module (PyTorch path) | output shape | stride | receptive field | MMAC |',
    '|---|---|---|---|---|',
  ];
  for (const [path, shape] of s.modules) {
    const m = macsUnder(path);
    const g = s.geometry.get(path)!;
    const spatial = shape.length === 3;
    lines.push(`| \`${path}\` | (${shape.join(', ')}) | ${spatial ? px(g.jump) : ''} | ${spatial ? px(g.rf) : ''} | ${m > 0 ? (m / 1e6).toFixed(1) : ''} |`);
  }
  lines.push('', '| conv kind | GMAC | share |', '|---|---|---|');
  for (const [kind, m] of [...s.macsByKind].sort((a, b) => b[1] - a[1])) {
    lines.push(`| ${kind} | ${(m / 1e9).toFixed(3)} | ${((100 * m) / s.macs).toFixed(1)}% |`);
  }
  return lines.join('\n');
}
