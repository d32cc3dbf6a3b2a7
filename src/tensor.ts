// A dense float32 tensor in PyTorch's layout (row-major, batch dimension dropped):
// activations are (C, H, W), convolution weights (C_out, C_in/groups, kH, kW),
// head outputs (anchors, 2 | 4 | 10).
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor(shape: number[], data?: Float32Array): Tensor {
  const n = numel(shape);
  if (data === undefined) return { shape, data: new Float32Array(n) };
  if (data.length !== n) {
    throw new Error(`tensor: shape [${shape.join(', ')}] needs ${n} values, got ${data.length}`);
  }
  return { shape, data };
}

export function shapeEquals(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: readonly number[]): string {
  return `(${shape.join(', ')})`;
}
