// x: (N, K) -> (N, K), F.softmax(x, dim=-1): exp(x - max) / sum, per row (the max subtracted
// for range, as PyTorch's kernel does).
import { tensor, type Tensor } from '../tensor.js';

export function softmaxNaive(x: Tensor): Tensor {
  const k = x.shape[x.shape.length - 1]!;
  const n = x.data.length / k;
  const y = tensor([...x.shape]);
  for (let r = 0; r < n; r++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, x.data[r * k + j]!);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(x.data[r * k + j]! - m);
    for (let j = 0; j < k; j++) y.data[r * k + j] = Math.exp(x.data[r * k + j]! - m) / s;
  }
  return y;
}
