// a: (...), b: (same) -> (same): a + b (FPN's lateral + upsampled top; ResNet's residual).
import { shapeEquals, formatShape, tensor, type Tensor } from '../tensor.js';

export function addNaive(a: Tensor, b: Tensor): Tensor {
  if (!shapeEquals(a.shape, b.shape)) throw new Error(`add: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} differ`);
  const y = tensor([...a.shape]);
  for (let i = 0; i < a.data.length; i++) y.data[i] = a.data[i]! + b.data[i]!;
  return y;
}
