// xs[i]: (C_i, ...rest) -> (sum C_i, ...rest): torch.cat(xs, dim=0 of the unbatched tensor).
// Used for SSH's channel concatenation (dim 1 with batch) and for the heads' anchor
// concatenation (dim 1 of (1, A, k)): in both cases the leading dimension once batch is dropped.
import { formatShape, shapeEquals, tensor, type Tensor } from '../tensor.js';

export function catNaive(xs: Tensor[]): Tensor {
  const rest = xs[0]!.shape.slice(1);
  let lead = 0;
  for (const x of xs) {
    if (!shapeEquals(x.shape.slice(1), rest)) throw new Error(`cat: ${formatShape(x.shape)} does not match (*, ${rest.join(', ')})`);
    lead += x.shape[0]!;
  }
  const y = tensor([lead, ...rest]);
  let offset = 0;
  for (const x of xs) {
    for (let i = 0; i < x.data.length; i++) y.data[offset + i] = x.data[i]!;
    offset += x.data.length;
  }
  return y;
}
