// x: (C, H, W), weight/bias/running_mean/running_var: (C) -> (C, H, W)
// nn.BatchNorm2d in eval mode: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias,
// eps = 1e-5 (the PyTorch default; the reference never changes it).
import { tensor, type Tensor } from '../tensor.js';

export const BN_EPS = 1e-5;

export interface BatchNormParams {
  weight: Tensor;
  bias: Tensor;
  running_mean: Tensor;
  running_var: Tensor;
}

export function batchNorm2dNaive(x: Tensor, bn: BatchNormParams, eps = BN_EPS): Tensor {
  const [c, h, w] = x.shape as [number, number, number];
  const y = tensor([c, h, w]);
  for (let ch = 0; ch < c; ch++) {
    const inv = 1 / Math.sqrt(bn.running_var.data[ch]! + eps);
    const mean = bn.running_mean.data[ch]!, gamma = bn.weight.data[ch]!, beta = bn.bias.data[ch]!;
    for (let i = ch * h * w; i < (ch + 1) * h * w; i++) y.data[i] = (x.data[i]! - mean) * inv * gamma + beta;
  }
  return y;
}

/**
 * Folds an eval-mode BatchNorm2d into the preceding convolution (done once at load time):
 * w'[oc] = w[oc] * gamma / sqrt(var + eps), b'[oc] = beta + (b[oc] - mean) * gamma / sqrt(var + eps).
 */
export function foldBatchNorm(w: Tensor, b: Tensor | null, bn: BatchNormParams, eps = BN_EPS): { w: Tensor; b: Tensor } {
  const cOut = w.shape[0]!;
  const per = w.data.length / cOut;
  const wf = tensor([...w.shape]);
  const bf = tensor([cOut]);
  for (let oc = 0; oc < cOut; oc++) {
    const scale = bn.weight.data[oc]! / Math.sqrt(bn.running_var.data[oc]! + eps);
    for (let i = oc * per; i < (oc + 1) * per; i++) wf.data[i] = w.data[i]! * scale;
    bf.data[oc] = bn.bias.data[oc]! + ((b === null ? 0 : b.data[oc]!) - bn.running_mean.data[oc]!) * scale;
  }
  return { w: wf, b: bf };
}
