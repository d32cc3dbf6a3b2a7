// The network's anatomy at one input size, from its own trace: every module output in forward
// order (PyTorch path, shape, stride and receptive field), and what it costs: the ops that ran
// for it, their multiply-accumulates and the convolutions' parameters. The explorer page
// (docs/explore/) shows it; the same stamping attributes a real pass's time to modules.
//
// Attribution: every module reports its output through Forward.out() as it completes, so the
// ops (or the time) between one report and the one before belong to the module reporting
// ("own"); a module's total adds its descendants' (they report before it). `body.stage1`'s
// total is its six blocks; `ssh1`'s own share is the concat + ReLU after its five convs.
import type { Tensor } from '../tensor.js';
import { ShapeBackend, type Geometry, type OpRecord } from './shape_backend.js';
import { convUnits, type ConvBnAct } from './modules.js';
import type { RetinaFace } from './retinaface.js';
import { traceForward } from './trace.js';

/** A tap selection that observes every module (or none) and stamps `now()` at each report, in forward order. */
export function stamper(now: () => number, observe: boolean): { selection: (path: string) => boolean; stamps: [string, number][]; start: number } {
  const stamps: [string, number][] = [];
  return { selection: (path) => { stamps.push([path, now()]); return observe; }, stamps, start: now() };
}

/** Per path: the amount since the previous report (own) and with its descendants' (total). */
export function attribute(stamps: readonly [string, number][], start: number): Map<string, { own: number; total: number }> {
  const out = new Map<string, { own: number; total: number }>();
  let prev = start;
  for (const [path, v] of stamps) {
    out.set(path, { own: v - prev, total: v - prev });
    prev = v;
  }
  for (const [path, a] of out) {
    for (const [other, b] of out) if (other.startsWith(`${path}.`)) a.total += b.own;
  }
  return out;
}

export interface ModuleAnatomy {
  path: string;
  /** the nearest reported ancestor, or null at the top (group paths such as `body` report nothing) */
  parent: string | null;
  shape: number[];
  /** input pixels between neighbouring cells, and the theoretical receptive field (spatial outputs) */
  geometry?: Geometry;
  /** the ops that ran for it and its descendants, in forward order */
  ops: OpRecord[];
  macs: number;
  /** weights and biases of its convolutions (batch norm's scale and shift included, running statistics not) */
  params: number;
}

export interface Anatomy {
  height: number;
  width: number;
  modules: ModuleAnatomy[];
  ops: OpRecord[];
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function unitParams(u: ConvBnAct): number {
  return numel(u.conv.weight.shape) + (u.conv.bias === null ? 0 : numel(u.conv.bias.shape)) + (u.bn === null ? 0 : 2 * u.bn.weight.shape[0]!);
}

/** The model's anatomy for a (3, height, width) input, traced on the ShapeBackend (no data, no weights needed). */
export async function anatomy(model: RetinaFace, height: number, width: number): Promise<Anatomy> {
  const backend = new ShapeBackend();
  const s = stamper(() => backend.ops.length, true);
  const trace = traceForward(model, height, width, s.selection, backend);
  const params = new Map(convUnits(model).map((u) => [u.path, unitParams(u)]));
  const reported = new Set(s.stamps.map(([p]) => p));
  const modules: ModuleAnatomy[] = [];
  let prev = 0;
  const own = new Map<string, OpRecord[]>();
  for (const [path, end] of s.stamps) {
    own.set(path, trace.backend.ops.slice(prev, end));
    prev = end;
  }
  for (const [path, t] of trace.forward.taps) {
    const tensor: Tensor = await t;
    const ops = [...own].filter(([p]) => p === path || p.startsWith(`${path}.`)).flatMap(([, o]) => o);
    let parent: string | null = null;
    for (let cut = path.lastIndexOf('.'); cut > 0 && parent === null; cut = path.lastIndexOf('.', cut - 1)) {
      if (reported.has(path.slice(0, cut))) parent = path.slice(0, cut);
    }
    modules.push({
      path, parent, shape: tensor.shape, ops,
      ...(tensor.shape.length === 3 ? { geometry: trace.backend.geometry(tensor) } : {}),
      macs: ops.reduce((a, o) => a + o.macs, 0),
      params: ops.reduce((a, o) => a + (o.op === 'conv' ? params.get(o.path!) ?? 0 : 0), 0),
    });
  }
  return { height, width, modules, ops: trace.backend.ops };
}
