// Weights for the gpu.js network tests, isolated in one function so that the lead's
// loadTestWeights(arch) can replace it: mobile0.25 from the official checkpoint (converted by
// PyTorch into .cache/ until the TypeScript .pth reader lands), resnet50 from seeded random
// values (no official resnet50 weights are shipped), scaled so activations stay O(1) through
// 50 layers.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Arch } from '../../src/model/config.js';
import { parameterShapes } from '../../src/model/modules.js';
import { buildRetinaFace, RetinaFace } from '../../src/model/retinaface.js';
import type { Tensor } from '../../src/tensor.js';
import { readTensorFile } from '../../src/weights/files.js';
import { cacheDir, officialCheckpoint, repoRoot, runTorchPython } from './paths.js';
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

export async function loadGpuTestModel(arch: Arch): Promise<RetinaFace> {
  if (arch === 'resnet50') return buildRetinaFace(arch, seededWeights(arch), 'seeded resnet50');
  const file = path.join(cacheDir('weights'), 'mobilenet0.25_Final.rfw');
  if (!existsSync(file)) runTorchPython(path.join(repoRoot, 'test', 'helpers', 'convert_pth.py'), [officialCheckpoint(), file]);
  const { tensors } = await readTensorFile(file);
  return buildRetinaFace(arch, tensors, file);
}
