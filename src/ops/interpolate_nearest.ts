// F.interpolate(x, size=[H_out, W_out], mode='nearest') index mapping, as PyTorch's CPU kernel
// computes it (aten/src/ATen/native/UpSample.h, nearest_idx): identity when sizes match, a shift
// when doubling, else min(floor(dst * float(in / out)), in - 1) in float32 arithmetic.
// The FPN upsamples the coarser map to the finer one's size, which for odd inputs is not 2x.
export function nearestSourceIndex(dst: number, inSize: number, outSize: number): number {
  if (outSize === inSize) return dst;
  if (outSize === 2 * inSize) return dst >> 1;
  const scale = Math.fround(inSize / outSize);
  return Math.min(Math.floor(Math.fround(dst * scale)), inSize - 1);
}
