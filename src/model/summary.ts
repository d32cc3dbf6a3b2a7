// What the network does at a given input size, computed by running the one forward definition
// on the ShapeBackend: every module's output shape and the multiply-accumulates per conv kind.
import { ShapeBackend, type OpRecord } from '../backends/shape.js';
import type { Arch } from './config.js';
import { Forward } from './forward.js';
import { RetinaFace } from './retinaface.js';

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
}

export async function summarize(arch: Arch, height: number, width: number): Promise<NetworkSummary> {
  const be = new ShapeBackend();
  const model = new RetinaFace(arch);
  const f = new Forward(be, true);
  const out = model.forward(f, be.upload({ shape: [3, height, width], data: new Float32Array(0) }));
  const modules: [string, number[]][] = [];
  for (const [path, t] of f.taps) modules.push([path, (await t).shape]);
  const macsByKind = new Map<string, number>();
  let macs = 0;
  for (const op of be.ops) {
    if (op.op !== 'conv') continue;
    macs += op.macs;
    macsByKind.set(op.kind!, (macsByKind.get(op.kind!) ?? 0) + op.macs);
  }
  return { arch, height, width, modules, ops: be.ops, macs, macsByKind, anchors: out.loc[0]! };
}

/** The module table of docs/architecture.md: path, output shape, MACs of the convs inside it. */
export function summaryMarkdown(s: NetworkSummary): string {
  const macsUnder = (path: string) =>
    s.ops.filter((o) => o.op === 'conv' && (o.path === path || o.path!.startsWith(`${path}.`))).reduce((a, o) => a + o.macs, 0);
  const lines = [
    `${s.arch} at ${s.height}x${s.width} (H x W): ${(s.macs / 1e9).toFixed(3)} GMAC, ${s.anchors} anchors, ${s.ops.length} ops`,
    '',
    '| module (PyTorch path) | output shape | MMAC |',
    '|---|---|---|',
  ];
  for (const [path, shape] of s.modules) {
    const m = macsUnder(path);
    lines.push(`| \`${path}\` | (${shape.join(', ')}) | ${m > 0 ? (m / 1e6).toFixed(1) : ''} |`);
  }
  lines.push('', '| conv kind | GMAC | share |', '|---|---|---|');
  for (const [kind, m] of [...s.macsByKind].sort((a, b) => b[1] - a[1])) {
    lines.push(`| ${kind} | ${(m / 1e9).toFixed(3)} | ${((100 * m) / s.macs).toFixed(1)}% |`);
  }
  return lines.join('\n');
}
