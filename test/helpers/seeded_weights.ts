// Seeded weights for an architecture (resnet50 has no official checkpoint here). Pure: the
// Chromium page builds the same model from the same seed.
import type { Arch } from '../../src/model/config.js';
import { parameterShapes } from '../../src/model/modules.js';
import { RetinaFace } from '../../src/model/retinaface.js';
import type { Tensor } from '../../src/tensor.js';
import { randomTensor } from './random.js';

/** Seeded weights for an architecture: conv weights U(+-1/sqrt(fan_in)), batch norms near identity. */
export function seededWeights(arch: Arch, seed = 7): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  let s = seed;
  for (const [name, shape] of parameterShapes(new RetinaFace(arch))) {
    s++;
    const leaf = name.slice(name.lastIndexOf('.') + 1);
    if (shape.length === 4) {
      const fan = shape[1]! * shape[2]! * shape[3]!;
      // sqrt(3) keeps the output variance of a ReLU conv near its input's (He-like).
      out.set(name, randomTensor(shape, s, -Math.sqrt(3 / fan), Math.sqrt(3 / fan)));
    } else if (leaf === 'running_var') out.set(name, randomTensor(shape, s, 0.5, 1.5));
    else if (leaf === 'weight') out.set(name, randomTensor(shape, s, 0.5, 1.0));
    else out.set(name, randomTensor(shape, s, -0.1, 0.1)); // bias, running_mean
  }
  return out;
}

