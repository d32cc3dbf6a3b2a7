// x: (...) -> (...), elementwise nn.LeakyReLU(negative_slope): x if x >= 0 else x * slope.
// slope 0 is F.relu. (The reference's LeakyReLU is inplace; here outputs are new tensors.)
import { tensor, type Tensor } from '../tensor.js';

export function leakyReluNaive(x: Tensor, slope: number): Tensor {
  const y = tensor([...x.shape]);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i]!;
    y.data[i] = v >= 0 ? v : v * slope;
  }
  return y;
}
