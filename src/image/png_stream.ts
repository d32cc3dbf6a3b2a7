// A PNG written a band of rows at a time (Node: node:zlib's streaming deflate), so that the CLI
// can draw faces on an image it never holds whole (a streamed JPEG under --max_network_pixels).
// 8-bit RGB, non-interlaced, every row with filter 1 (Sub: each byte minus the byte one pixel to
// its left), IDAT chunks as deflate hands out its output, every chunk with its CRC-32.
// Written to a temporary file beside the target and renamed over it at the end, as
// writeFileAtomic does: a failure leaves the target untouched.
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { crc32 } from '../crc32.js';
import { RetinaFaceError } from '../errors.js';
import { describeFsError } from '../weights/files.js';
import type { RgbImage } from './image.js';

const SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One chunk: length, type, data, CRC-32 of type and data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/**
 * Writes a width x height RGB PNG to `file`, asking `band(y, rows)` for rows [y, y + rows) top to
 * bottom, `rows` at most `bandRows`; the band returned may be reused by the caller afterwards.
 */
export async function writePngBands(file: string, width: number, height: number, bandRows: number, band: (y: number, rows: number) => RgbImage | Promise<RgbImage>): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fh: fs.FileHandle | undefined;
  const z = zlib.createDeflate({ level: 6 });
  z.on('error', () => undefined); // surfaced by once() below; without a listener it would be thrown at the process
  try {
    fh = await fs.open(tmp, 'wx');
    const ihdr = new Uint8Array(13);
    const v = new DataView(ihdr.buffer);
    v.setUint32(0, width);
    v.setUint32(4, height);
    ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit, RGB, deflate, adaptive filtering, no interlace
    await fh.write(SIGNATURE);
    await fh.write(chunk('IHDR', ihdr));
    const out: Buffer[] = [];
    z.on('data', (c: Buffer) => out.push(c));
    const drain = async () => {
      for (const c of out.splice(0)) await fh!.write(chunk('IDAT', c));
    };
    const stride = 3 * width;
    const filtered = new Uint8Array(Math.min(bandRows, height) * (stride + 1));
    for (let y = 0; y < height; y += bandRows) {
      const rows = Math.min(bandRows, height - y);
      const img = await band(y, rows);
      if (img.width !== width || img.height !== rows) throw new Error(`writePngBands: band ${y} is ${img.width}x${img.height}, expected ${width}x${rows}`);
      for (let r = 0; r < rows; r++) {
        const src = img.data.subarray(r * stride, (r + 1) * stride), o = r * (stride + 1);
        filtered[o] = 1; // Sub
        for (let i = 0; i < 3; i++) filtered[o + 1 + i] = src[i]!;
        for (let i = 3; i < stride; i++) filtered[o + 1 + i] = src[i]! - src[i - 3]!;
      }
      // a copy: deflate reads it later, while `filtered` takes the next band
      if (!z.write(filtered.slice(0, rows * (stride + 1)))) await once(z, 'drain');
      await drain();
    }
    z.end();
    await once(z, 'end');
    await drain();
    await fh.write(chunk('IEND', new Uint8Array(0)));
    await fh.close();
    fh = undefined;
    await fs.rename(tmp, file);
  } catch (e) {
    z.destroy();
    await fh?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    // the file system's errors (they carry an errno code) say what went wrong with the file; anything else is the caller's
    if (typeof (e as { code?: unknown }).code === 'string' && !(e instanceof RetinaFaceError)) {
      throw new RetinaFaceError(`cannot write: ${describeFsError(e)}`, { file, code: 'EWRITE', cause: e });
    }
    throw e;
  }
}
