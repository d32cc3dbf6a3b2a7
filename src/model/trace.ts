// The forward pass traced on the ShapeBackend (shapes, MACs, receptive fields, no data): one run of
// the one network definition gives the op list the scheduler frees by (schedule.ts), and the
// shapes `retinaface summary`, docs/architecture.md and the benchmarks' case list report.
import { Forward, type TapSelection } from './forward.js';
import type { RetinaFace } from './retinaface.js';
import { planFrom, Scheduled, type Plan } from './schedule.js';
import { ShapeBackend } from './shape_backend.js';

export interface Trace {
  /** the op list and each value's last reader */
  plan: Plan;
  /** the shape backend it ran on: its ops (shapes, MACs) and geometry (receptive fields) */
  backend: ShapeBackend;
  /** the pass, with its taps (shape-only tensors) */
  forward: Forward<number[]>;
}

/** Runs the forward once on `backend` (a ShapeBackend, or a subclass that observes more) at (3, height, width). */
export function traceForward(model: RetinaFace, height: number, width: number, taps: TapSelection = false, backend = new ShapeBackend()): Trace {
  const run = new Scheduled(backend, null);
  const forward = new Forward(run, taps);
  const input = run.adopt(backend.upload({ shape: [3, height, width], data: new Float32Array(0) }));
  const out = model.forward(forward, input);
  const plan = planFrom(run.recorded, [out.loc, out.conf, out.landms].map((t) => run.idOf(t)));
  return { plan, backend, forward };
}

/** Plans by input size, per model: a few recent sizes (a video keeps one; a photo library cycles through some). */
const PLANS_KEPT = 8;
const plans = new WeakMap<RetinaFace, Map<string, Plan>>();

/** The plan of a forward pass at (3, height, width), traced on first use. */
export function planFor(model: RetinaFace, height: number, width: number): Plan {
  let byModel = plans.get(model);
  if (byModel === undefined) plans.set(model, (byModel = new Map()));
  const key = `${height}x${width}`;
  let plan = byModel.get(key);
  if (plan === undefined) {
    plan = traceForward(model, height, width).plan;
    if (byModel.size >= PLANS_KEPT) byModel.delete(byModel.keys().next().value!);
  } else byModel.delete(key);
  byModel.set(key, plan);
  return plan;
}
