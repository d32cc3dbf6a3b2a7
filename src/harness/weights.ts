// Seeded random weights and inputs for the benchmarks and the op cases (cases.ts): the values set
// activation ranges, not the cost, but they must keep activations O(1) through 50 layers so that
// the checks compare numbers, not overflow. Same recipe as test/torch/reference.py's
// random_state_dict: He-scaled convs, BN near identity, the first conv scaled for pixel inputs of +-128.
import { BatchNorm2d, Conv2d, namedModules, type Module } from '../model/modules.js';
import { tensor, type Tensor } from '../tensor.js';
import { rng } from './random.js';

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Fills every parameter of the tree in registration order; `pixelInput` scales a 3-channel first conv. */
export function fillRandomWeights(root: Module, seed: number, pixelInput = false): void {
  const r = rng(seed);
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * r();
  for (const [path, m] of namedModules(root)) {
    if (m instanceof Conv2d) {
      const fanIn = m.weight.shape[1]! * m.kernel_size * m.kernel_size;
      let std = Math.sqrt(2 / fanIn / 1.19);
      if (pixelInput && m.in_channels === 3) std /= 64;
      if (/\.layer\d\.\d+\.conv3$/.test(path)) std *= 0.25;
      m.weight.data = Float32Array.from({ length: m.weight.shape.reduce((a, b) => a * b, 1) }, () => gaussian(r) * std);
      if (m.bias !== null) m.bias.data = Float32Array.from({ length: m.out_channels }, () => uniform(-0.1, 0.1));
    } else if (m instanceof BatchNorm2d) {
      const n = m.num_features;
      m.weight.data = Float32Array.from({ length: n }, () => uniform(0.5, 1.5));
      m.bias.data = Float32Array.from({ length: n }, () => uniform(-0.1, 0.1));
      m.running_mean.data = Float32Array.from({ length: n }, () => uniform(-0.1, 0.1));
      m.running_var.data = Float32Array.from({ length: n }, () => uniform(0.5, 1.5));
    }
  }
}

/** A network input (3, H, W) like BGR minus (104, 117, 123): smooth gradients plus noise, in [-128, 152]. */
export function syntheticInput(height: number, width: number, seed: number): Tensor {
  const r = rng(seed);
  const x = tensor([3, height, width]);
  const mean = [104, 117, 123];
  for (let c = 0; c < 3; c++) {
    for (let h = 0; h < height; h++) {
      for (let w = 0; w < width; w++) {
        const v = 128 + 90 * Math.sin((h / height) * (3 + c) + (w / width) * 5) + 30 * (r() - 0.5);
        x.data[(c * height + h) * width + w] = Math.max(0, Math.min(255, Math.round(v))) - mean[c]!;
      }
    }
  }
  return x;
}
