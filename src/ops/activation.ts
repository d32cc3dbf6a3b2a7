// Activations as one number: the negative slope of a LeakyReLU (nn.LeakyReLU, F.leaky_relu).
// 0 is ReLU (F.relu in SSH.forward, nn.ReLU in ResNet); null means no activation (conv_bn_no_relu).
export type Slope = number | null;

export function leaky(v: number, slope: number): number {
  return v >= 0 ? v : v * slope;
}
