// Seeded random parameters for a whole network (timing and backend-twin tests need no trained
// weights): convolution weights uniform in +-1/sqrt(fan_in) so activations keep their scale
// through the layers, batch-norm scale and variance around 1 (variance positive), small shifts.
import { namedParameters, type Module } from '../model/modules.js';
import { numel } from '../tensor.js';
import { rng } from './random.js';

export function randomizeModel(model: Module, seed: number): void {
  const r = rng(seed);
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * r();
  for (const [name, p] of namedParameters(model)) {
    const n = numel(p.shape);
    const data = new Float32Array(n);
    const leaf = name.slice(name.lastIndexOf('.') + 1);
    const bound = p.shape.length === 4 ? 1 / Math.sqrt(numel(p.shape.slice(1))) : 0;
    for (let i = 0; i < n; i++) {
      if (p.shape.length === 4) data[i] = uniform(-bound, bound) * Math.sqrt(3);
      else if (leaf === 'running_var') data[i] = uniform(0.5, 1.5);
      else if (leaf === 'weight') data[i] = uniform(0.5, 1.5);
      else data[i] = uniform(-0.2, 0.2); // bias, running_mean
    }
    p.data = data;
  }
}
