// RgbImage -> PNG or JPEG bytes, the format chosen by the output file's extension.
// Pure (no Node built-ins; pngjs needs a global Buffer, as in decode.ts).
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { RetinaFaceError } from '../errors.js';
import type { RgbImage } from './image.js';
import type { ImageFormat } from './decode.js';

/** JPEG quality for drawn outputs: OpenCV's imwrite default is 95; 90 keeps files smaller with no visible loss on boxes and text. */
export const JPEG_QUALITY = 90;

/** '.png' -> 'png', '.jpg' / '.jpeg' -> 'jpeg' (case-insensitive); anything else is a RetinaFaceError. */
export function formatFromPath(file: string): ImageFormat {
  const m = /\.([^./\\]+)$/.exec(file);
  const ext = m?.[1]!.toLowerCase();
  if (ext === 'png') return 'png';
  if (ext === 'jpg' || ext === 'jpeg') return 'jpeg';
  throw new RetinaFaceError(`cannot choose an output format from the extension ${m ? `.${m[1]}` : '(none)'}: use .png, .jpg or .jpeg`,
    { file, code: 'EOPTION' });
}

/** `target` is an output path (format from its extension) or a format name. */
export function encodeImage(img: RgbImage, target: string): Uint8Array {
  const format = target === 'png' || target === 'jpeg' ? target : formatFromPath(target);
  const { width, height, data } = img;
  if (data.length !== width * height * 3) throw new Error(`encodeImage: ${width}x${height} needs ${width * height * 3} bytes, got ${data.length}`);
  if (format === 'jpeg') {
    const rgba = new Uint8Array(width * height * 4); // jpeg-js encodes RGBA input
    for (let p = 0; p < width * height; p++) {
      rgba[4 * p] = data[3 * p]!;
      rgba[4 * p + 1] = data[3 * p + 1]!;
      rgba[4 * p + 2] = data[3 * p + 2]!;
      rgba[4 * p + 3] = 255;
    }
    return new Uint8Array(jpeg.encode({ width, height, data: rgba }, JPEG_QUALITY).data);
  }
  // 8-bit RGB, no alpha: the packer reads 3 bytes per pixel with inputHasAlpha false.
  const png = { width, height, data, gamma: 0 };
  return new Uint8Array(pngjs.PNG.sync.write(png as never, { colorType: 2, inputColorType: 2, inputHasAlpha: false }));
}
