// The decoded image every image function exchanges: 8-bit RGB, row-major, 3 bytes per pixel,
// no alpha (OpenCV's imread(IMREAD_COLOR), which the reference uses, has none either).
// RGB rather than OpenCV's BGR because that is what decoders, encoders and browsers speak;
// toNetworkInput (preprocess.ts) swaps to BGR where the reference's network expects it.

export interface RgbImage {
  width: number;
  height: number;
  /** length width * height * 3; pixel (x, y) channel c at 3 * (y * width + x) + c */
  data: Uint8Array;
}

export function rgbImage(width: number, height: number, data?: Uint8Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`rgbImage: size must be positive integers, got ${width}x${height}`);
  }
  const n = width * height * 3;
  if (data === undefined) return { width, height, data: new Uint8Array(n) };
  if (data.length !== n) throw new Error(`rgbImage: ${width}x${height} needs ${n} bytes, got ${data.length}`);
  return { width, height, data };
}
