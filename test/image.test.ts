import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import jpeg from 'jpeg-js';
import { RetinaFaceError } from '../src/errors.js';
import { DEFAULT_MAX_PIXELS, decodeImage, probeImage } from '../src/image/decode.js';
import { drawDetections, LANDMARK_COLORS } from '../src/image/draw.js';
import { encodeImage, formatFromPath } from '../src/image/encode.js';
import type { RgbImage } from '../src/image/image.js';
import { resizeArea, resizeForRescale, rescaleSize, toNetworkInput } from '../src/image/preprocess.js';
import { readImageFile } from '../src/image/read.js';
import type { Face } from '../src/detect/postprocess.js';
import { cacheDir, sharedImage } from './helpers/paths.js';
import { encodePng, exifApp1, insertAfterSoi, pngHeaderOnly, withSofSize, type RawPng } from './helpers/images.js';

/** Pixels as [r, g, b] triples, for readable assertion diffs. */
function pixels(img: RgbImage): number[][] {
  const out: number[][] = [];
  for (let p = 0; p < img.width * img.height; p++) out.push(Array.from(img.data.subarray(3 * p, 3 * p + 3)));
  return out;
}

function pixelAt(img: RgbImage, x: number, y: number): number[] {
  const i = 3 * (y * img.width + x);
  return Array.from(img.data.subarray(i, i + 3));
}

function decodePng(p: RawPng): RgbImage {
  return decodeImage(encodePng(p), 'test.png');
}

/** Asserts that `fn` throws a RetinaFaceError whose message names `file` and matches `re`. */
async function rejects(fn: () => unknown, file: string, re: RegExp): Promise<RetinaFaceError> {
  try {
    await fn();
  } catch (e) {
    assert.instance(e, RetinaFaceError, `expected a RetinaFaceError, got ${String(e)}`);
    const err = e as RetinaFaceError;
    assert.ok(err.message.startsWith(`${file}: `), `message should name ${file}: ${err.message}`);
    assert.match(err.message, re);
    assert.not.match(err.message, /\n/, 'one line');
    return err;
  }
  assert.unreachable(`expected an error matching ${re}`);
  throw new Error('unreachable');
}

// ---------------------------------------------------------------- PNG, as cv2.imread(IMREAD_COLOR)

test('PNG 8-bit gray is replicated to RGB', () => {
  const img = decodePng({ width: 3, height: 2, colorType: 0, depth: 8, samples: [0, 100, 255, 7, 8, 9] });
  assert.is(img.width, 3);
  assert.is(img.height, 2);
  assert.equal(pixels(img), [[0, 0, 0], [100, 100, 100], [255, 255, 255], [7, 7, 7], [8, 8, 8], [9, 9, 9]]);
});

test('PNG 1-, 2- and 4-bit gray is scaled to 0..255 (x255, x85, x17)', () => {
  assert.equal(pixels(decodePng({ width: 3, height: 1, colorType: 0, depth: 1, samples: [1, 0, 1] })),
    [[255, 255, 255], [0, 0, 0], [255, 255, 255]]);
  assert.equal(pixels(decodePng({ width: 4, height: 1, colorType: 0, depth: 2, samples: [0, 1, 2, 3] })),
    [[0, 0, 0], [85, 85, 85], [170, 170, 170], [255, 255, 255]]);
  assert.equal(pixels(decodePng({ width: 3, height: 1, colorType: 0, depth: 4, samples: [5, 15, 0] })),
    [[85, 85, 85], [255, 255, 255], [0, 0, 0]]);
});

test('PNG gray + alpha and RGBA: alpha dropped without blending', () => {
  assert.equal(pixels(decodePng({ width: 2, height: 1, colorType: 4, depth: 8, samples: [50, 0, 200, 128] })),
    [[50, 50, 50], [200, 200, 200]]);
  assert.equal(pixels(decodePng({ width: 2, height: 1, colorType: 6, depth: 8, samples: [10, 20, 30, 0, 40, 50, 60, 77] })),
    [[10, 20, 30], [40, 50, 60]]);
});

test('PNG palette (2-bit indices) with tRNS: colours from PLTE, transparency ignored', () => {
  const img = decodePng({
    width: 5, height: 1, colorType: 3, depth: 2, samples: [0, 1, 2, 1, 0],
    palette: [[255, 0, 0], [0, 128, 255], [9, 8, 7]], trns: [0, 255, 100],
  });
  assert.equal(pixels(img), [[255, 0, 0], [0, 128, 255], [9, 8, 7], [0, 128, 255], [255, 0, 0]]);
});

test('PNG 16-bit keeps the high byte (libpng strip_16: v >> 8, not rounding)', () => {
  // 0x80FF rounds to 0x81 (pngjs's default rescale) but strips to 0x80 (OpenCV).
  const img = decodePng({ width: 2, height: 1, colorType: 2, depth: 16, samples: [0x1234, 0x80ff, 0xffff, 0x00ff, 0x0100, 0x7f80] });
  assert.equal(pixels(img), [[0x12, 0x80, 0xff], [0x00, 0x01, 0x7f]]);
  const ga = decodePng({ width: 1, height: 1, colorType: 4, depth: 16, samples: [0xabff, 0x0000] });
  assert.equal(pixels(ga), [[0xab, 0xab, 0xab]]);
});

test('PNG gray and RGB with a tRNS colour: matching pixels keep their colour', () => {
  assert.equal(pixels(decodePng({ width: 3, height: 1, colorType: 0, depth: 8, samples: [7, 9, 7], trns: [0, 7] })),
    [[7, 7, 7], [9, 9, 9], [7, 7, 7]]);
  const rgb16 = decodePng({
    width: 2, height: 1, colorType: 2, depth: 16, samples: [0x0102, 0x0304, 0x0506, 0xff00, 0x0000, 0x1234],
    trns: [0x01, 0x02, 0x03, 0x04, 0x05, 0x06],
  });
  assert.equal(pixels(rgb16), [[1, 3, 5], [0xff, 0, 0x12]]);
});

test('PNG Adam7 interlaced equals the same image stored progressively', () => {
  const width = 11, height = 9;
  const samples: number[] = [];
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) samples.push(x * 20, y * 25, (x * 7 + y * 13) % 256);
  const inter = decodePng({ width, height, colorType: 2, depth: 8, samples, interlace: true });
  assert.equal(Array.from(inter.data), samples);
});

// ---------------------------------------------------------------- JPEG

/** 32x16, four flat 16x8 quadrants (block-aligned, so JPEG keeps them flat): TL red, TR green, BL blue, BR white. */
function quadrantJpeg(): Uint8Array {
  const W = 32, H = 16;
  const colors = { TL: [255, 0, 0], TR: [0, 255, 0], BL: [0, 0, 255], BR: [255, 255, 255] };
  const rgba = new Uint8Array(W * H * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const c = y < 8 ? (x < 16 ? colors.TL : colors.TR) : (x < 16 ? colors.BL : colors.BR);
      rgba.set([...c, 255], 4 * (y * W + x));
    }
  }
  return new Uint8Array(jpeg.encode({ width: W, height: H, data: rgba }, 100).data);
}

/** Flat colours survive JPEG within a few levels (quantisation at quality 100, colour conversion rounding). */
const FLAT_JPEG_TOL = 4;

function nearest(c: number[]): string {
  const names: [string, number[]][] = [['red', [255, 0, 0]], ['green', [0, 255, 0]], ['blue', [0, 0, 255]], ['white', [255, 255, 255]]];
  for (const [name, ref] of names) if (ref.every((v, i) => Math.abs(v - c[i]!) <= FLAT_JPEG_TOL)) return name;
  return `unmatched ${c}`;
}

function corners(img: RgbImage): string[] {
  const { width: W, height: H } = img;
  return [pixelAt(img, 1, 1), pixelAt(img, W - 2, 1), pixelAt(img, 1, H - 2), pixelAt(img, W - 2, H - 2)].map(nearest);
}

test('JPEG EXIF orientation 1-8 is applied as OpenCV imread does (corners TL, TR, BL, BR)', () => {
  const base = quadrantJpeg();
  // The EXIF meaning of each value ("row 0 is ..., column 0 is ..."), written out by hand.
  const expected: Record<number, string[]> = {
    1: ['red', 'green', 'blue', 'white'],
    2: ['green', 'red', 'white', 'blue'], // mirrored left-right
    3: ['white', 'blue', 'green', 'red'], // rotated 180
    4: ['blue', 'white', 'red', 'green'], // mirrored top-bottom
    5: ['red', 'blue', 'green', 'white'], // transposed
    6: ['blue', 'red', 'white', 'green'], // rotated 90 clockwise
    7: ['white', 'green', 'blue', 'red'], // transverse
    8: ['green', 'white', 'red', 'blue'], // rotated 90 counter-clockwise
  };
  for (let o = 1; o <= 8; o++) {
    for (const bigEndian of [false, true]) {
      const bytes = insertAfterSoi(base, exifApp1(o, bigEndian));
      const info = probeImage(bytes, 'o.jpg');
      const img = decodeImage(bytes, 'o.jpg');
      const [w, h] = o >= 5 ? [16, 32] : [32, 16];
      assert.equal([info.width, info.height, info.orientation], [w, h, o], `probe, orientation ${o}`);
      assert.equal([img.width, img.height], [w, h], `size, orientation ${o}`);
      assert.equal(corners(img), expected[o], `orientation ${o}${bigEndian ? ' (big-endian EXIF)' : ''}`);
    }
  }
});

/** Runs Python (Debian's /usr/bin/python3 with python3-pil and numpy) and returns its stdout. */
function python(script: string, args: string[] = []): string {
  const r = spawnSync(process.env.RETINAFACE_TORCH_PYTHON ?? '/usr/bin/python3', ['-c', script, ...args], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`python failed (needs PIL and numpy: apt-get install -y python3-pil python3-numpy): ${r.stderr || String(r.error)}`);
  }
  return r.stdout;
}

/**
 * jpeg-js vs libjpeg-turbo (PIL, the library cv2.imread uses), per channel mean |difference|.
 * Measured on the shared photos (test/torch/jpeg_diff.py): at most 1.92 (wider_group.jpg R);
 * jpeg-js's nearest-neighbour chroma upsampling and its IDCT rounding cause it.
 */
const JPEG_VS_LIBJPEG_MEAN_TOL = 2.5;
/** On flat or smooth gray images there is no chroma and the two IDCTs agree within rounding. */
const GRAY_JPEG_VS_LIBJPEG_MAX_TOL = 2;

test('JPEG grayscale and Adobe CMYK (made by PIL) decode as libjpeg does', () => {
  const dir = cacheDir('image-tests');
  const gray = path.join(dir, 'gray.jpg'), cmyk = path.join(dir, 'cmyk.jpg'), grayRaw = path.join(dir, 'gray.raw');
  python(`
import sys
from PIL import Image
gray, cmyk, raw = sys.argv[1:]
g = Image.new('L', (40, 24))
g.putdata([(x * 6 + y * 3) % 256 for y in range(24) for x in range(40)])
g.save(gray, quality=95)
open(raw, 'wb').write(Image.open(gray).convert('RGB').tobytes())
# CMYK quadrants (16x8, block-aligned): PIL writes Adobe APP14 and inverted samples, as Photoshop.
c = Image.new('CMYK', (32, 16))
quads = [(255, 0, 0, 0), (0, 0, 0, 0), (0, 0, 0, 255), (0, 255, 255, 0)]
c.putdata([quads[(y >= 8) * 2 + (x >= 16)] for y in range(16) for x in range(32)])
c.save(cmyk, quality=100)
`, [gray, cmyk, grayRaw]);
  const g = decodeImage(readFileSync(gray), gray);
  const ref = readFileSync(grayRaw);
  assert.equal([g.width, g.height], [40, 24]);
  let max = 0;
  for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(g.data[i]! - ref[i]!));
  assert.ok(max <= GRAY_JPEG_VS_LIBJPEG_MAX_TOL, `gray JPEG: max |jpeg-js - libjpeg| = ${max}`);
  for (let p = 0; p < 40 * 24; p++) assert.ok(g.data[3 * p] === g.data[3 * p + 1] && g.data[3 * p] === g.data[3 * p + 2], 'gray replicated');

  // CMYK -> RGB by hand: R = 255 (1 - C)(1 - K), etc.: cyan, white, black, red.
  const c = decodeImage(readFileSync(cmyk), cmyk);
  assert.equal([c.width, c.height], [32, 16]);
  const want = [[0, 255, 255], [255, 255, 255], [0, 0, 0], [255, 0, 0]];
  [pixelAt(c, 4, 4), pixelAt(c, 28, 4), pixelAt(c, 4, 12), pixelAt(c, 28, 12)].forEach((got, i) => {
    assert.ok(got.every((v, k) => Math.abs(v - want[i]![k]!) <= FLAT_JPEG_TOL), `CMYK quadrant ${i}: got ${got}, want ${want[i]}`);
  });
});

test('baseline and progressive photos decode close to libjpeg-turbo', () => {
  const dir = cacheDir('image-tests');
  for (const name of ['wider_group.jpg', 'sample.jpg']) {
    const file = sharedImage(name);
    const raw = path.join(dir, `${name}.rgb`);
    python(`
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert('RGB')
open(sys.argv[2], 'wb').write(im.tobytes())
print(im.size[0], im.size[1])`, [file, raw]);
    const img = decodeImage(readFileSync(file), file);
    const ref = readFileSync(raw);
    assert.is(img.data.length, ref.length, `${name}: size`);
    const sum = [0, 0, 0];
    for (let i = 0; i < ref.length; i++) sum[i % 3]! += Math.abs(img.data[i]! - ref[i]!);
    const mean = sum.map((s) => s / (ref.length / 3));
    mean.forEach((m, c) => assert.ok(m <= JPEG_VS_LIBJPEG_MEAN_TOL, `${name} channel ${'RGB'[c]}: mean |diff| ${m.toFixed(3)}`));
  }
});

// ---------------------------------------------------------------- refusals

test('bad inputs are one-line RetinaFaceErrors naming the file', async () => {
  const dir = cacheDir('image-tests');
  const good = quadrantJpeg();
  const png = encodePng({ width: 16, height: 16, colorType: 2, depth: 8, samples: Array.from({ length: 16 * 16 * 3 }, (_, i) => (i * 37) % 256) });
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty.jpg', new Uint8Array(0), /empty file/],
    ['text.jpg', new TextEncoder().encode('hello, I am not an image\n'), /unrecognised format/],
    ['anim.gif', new TextEncoder().encode('GIF89a\x01\x00\x01\x00'), /GIF images are not supported/],
    ['pic.webp', new TextEncoder().encode('RIFF\x10\x00\x00\x00WEBPVP8 '), /WebP images are not supported/],
    ['pic.bmp', new TextEncoder().encode('BM\x3a\x00\x00\x00'), /BMP images are not supported/],
    ['head.jpg', good.subarray(0, 10), /truncated JPEG/],
    ['half.jpg', good.subarray(0, Math.floor(good.length * 0.8)), /truncated or corrupt JPEG/],
    ['junk.jpg', Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0, 0, 0x12, 0x34]), /corrupt JPEG: expected a marker/],
    ['short.png', png.subarray(0, 20), /truncated PNG/],
    ['half.png', png.subarray(0, png.length - 30), /truncated or corrupt PNG/],
    ['zero.png', pngHeaderOnly(0, 10), /declares a size of 0x10/],
    ['zero.jpg', withSofSize(good, 32, 0), /declares a size of 32x0/],
  ];
  // corrupt.png: one flipped bit in the IDAT payload (CRC mismatch)
  const corrupt = png.slice();
  corrupt[png.length - 20] ^= 0x10;
  cases.push(['corrupt.png', corrupt, /corrupt PNG/]);
  for (const [name, bytes, re] of cases) {
    const file = path.join(dir, name);
    writeFileSync(file, bytes);
    await rejects(() => readImageFile(file), file, re);
  }
  await rejects(() => readImageFile(dir), dir, /is a directory/);
  const missing = path.join(dir, 'does-not-exist.png');
  await rejects(() => readImageFile(missing), missing, /no such file/);
});

/** Refusing a bomb reads a header: far under this, where decoding would allocate 40 GB. */
const BOMB_REFUSAL_MS = 50;

test('decompression bombs are refused from the header, in milliseconds', async () => {
  const bombs: [string, Uint8Array][] = [
    ['bomb.png', pngHeaderOnly(100000, 100000)],
    ['bomb.jpg', withSofSize(quadrantJpeg(), 65535, 65535)],
  ];
  for (const [file, bytes] of bombs) {
    const t0 = performance.now();
    const err = await rejects(() => decodeImage(bytes, file), file, /over the limit of 50\.0 megapixels/);
    const ms = performance.now() - t0;
    assert.is(err.code, 'ETOOBIG');
    assert.ok(ms < BOMB_REFUSAL_MS, `${file} refused in ${ms.toFixed(1)} ms`);
  }
  assert.is(DEFAULT_MAX_PIXELS, 50_000_000);
  const small = encodePng({ width: 10, height: 10, colorType: 0, depth: 8, samples: new Array(100).fill(1) });
  await rejects(() => decodeImage(small, 'small.png', { maxPixels: 99 }), 'small.png', /10x10 .* over the limit of 0\.0 megapixels/);
  assert.is(decodeImage(small, 'small.png', { maxPixels: 100 }).width, 10);
  assert.throws(() => decodeImage(small, 'small.png', { maxPixels: 0 }), /invalid option maxPixels/);
});

// ---------------------------------------------------------------- preprocess

test('toNetworkInput: (3, H, W) BGR minus (104, 117, 123)', () => {
  const t = toNetworkInput({ width: 2, height: 1, data: Uint8Array.from([10, 20, 30, 255, 0, 128]) });
  assert.equal(t.shape, [3, 1, 2]);
  assert.equal(Array.from(t.data), [30 - 104, 128 - 104, 20 - 117, 0 - 117, 10 - 123, 255 - 123]);
});

test('resizeForRescale: OpenCV INTER_AREA, hand-computed', () => {
  assert.equal(rescaleSize(1025, 624, 2), { width: 512, height: 312 });
  assert.equal(rescaleSize(2048, 1150, 1.5), { width: 1365, height: 766 });
  assert.throws(() => rescaleSize(100, 100, 0.5), /rescale factor/);
  const gray = (w: number, h: number, v: number[]): RgbImage => ({ width: w, height: h, data: Uint8Array.from(v.flatMap((x) => [x, x, x])) });
  // 2x2 boxes: OpenCV's SIMD kernel rounds (sum + 2) >> 2, so 10/4 = 2.5 -> 3 and 6/4 = 1.5 -> 2
  const two = resizeForRescale(gray(4, 2, [1, 2, 0, 1, 3, 4, 2, 3]), 2);
  assert.equal(pixels(two), [[3, 3, 3], [2, 2, 2]]);
  // 3x3 boxes: sum * (1/9) rounded: 13/9 = 1.44 -> 1; 23/9 = 2.56 -> 3
  const three = resizeForRescale(gray(6, 3, [1, 1, 1, 5, 5, 5, 1, 5, 1, 0, 0, 0, 1, 1, 1, 3, 5, 0]), 3);
  assert.equal(pixels(three), [[1, 1, 1], [3, 3, 3]]);
  // 3 -> 2 columns: weights (2/3, 1/3) and (1/3, 2/3): 30, 60, 90 -> 40, 80
  assert.equal(pixels(resizeArea(gray(3, 1, [30, 60, 90]), 2, 1)), [[40, 40, 40], [80, 80, 80]]);
});

// ---------------------------------------------------------------- draw and encode

test('drawDetections draws box, score and landmarks as detect.py on a copy, above visThreshold only', () => {
  const img: RgbImage = { width: 48, height: 48, data: new Uint8Array(48 * 48 * 3) };
  const face: Face = {
    score: 0.95, box: [5.7, 6.2, 40.9, 44.99],
    landmarks: [[15.2, 20.9], [30.5, 20.1], [22.9, 28], [16, 36.7], [29.99, 36]],
  };
  const out = drawDetections(img, [face, { ...face, score: 0.5, box: [0, 0, 47, 47] }]);
  assert.ok(img.data.every((v) => v === 0), 'input untouched');
  const red = [255, 0, 0], black = [0, 0, 0];
  // thickness-2 rectangle at int() corners (5, 6)-(40, 44): within distance 1 of the outline
  assert.equal(pixelAt(out, 5, 6), red);
  assert.equal(pixelAt(out, 4, 6), red);
  assert.equal(pixelAt(out, 5, 5), red);
  assert.equal(pixelAt(out, 4, 5), black, 'corner pixel at distance sqrt(2) is not drawn');
  assert.equal(pixelAt(out, 41, 44), red);
  assert.equal(pixelAt(out, 42, 44), black);
  assert.equal(pixelAt(out, 0, 0), black, 'the 0.5 face is below visThreshold 0.6');
  // landmark dots: diamond |dx| + |dy| <= 3 around int() of each point, detect.py's colours
  assert.equal(pixelAt(out, 15, 20), LANDMARK_COLORS[0]);
  assert.equal(pixelAt(out, 18, 20), LANDMARK_COLORS[0]);
  assert.equal(pixelAt(out, 17, 22), black);
  assert.equal(pixelAt(out, 30, 17), LANDMARK_COLORS[1]);
  assert.equal(pixelAt(out, 22, 28), LANDMARK_COLORS[2]);
  assert.equal(pixelAt(out, 16, 36), LANDMARK_COLORS[3]);
  assert.equal(pixelAt(out, 29, 36), LANDMARK_COLORS[4]);
  // the score text "0.9500" is white, bottom row at y1 + 12 = 18, starting right of x1
  let white = 0;
  for (let y = 9; y <= 18; y++) for (let x = 5; x < 48; x++) if (pixelAt(out, x, y).every((v) => v === 255)) white++;
  assert.ok(white > 40, `score text drawn (${white} white pixels)`);
  assert.equal(pixels(drawDetections(img, [face], 0.96)), pixels(img), 'visThreshold option');
});

test('encodeImage: PNG round-trips exactly, JPEG closely; format from the extension', () => {
  const W = 24, H = 16;
  const img: RgbImage = { width: W, height: H, data: Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 31) % 256) };
  assert.equal(Array.from(decodeImage(encodeImage(img, 'out.png'), 'out.png').data), Array.from(img.data));
  const flat: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3).fill(200) };
  const back = decodeImage(encodeImage(flat, 'OUT.JPG'), 'OUT.JPG');
  assert.equal([back.width, back.height], [W, H]);
  assert.ok(back.data.every((v) => Math.abs(v - 200) <= FLAT_JPEG_TOL));
  assert.is(formatFromPath('a/b.Jpeg'), 'jpeg');
  assert.is(formatFromPath('x.PNG'), 'png');
  assert.is(encodeImage(img, 'png')[1], 0x50);
  for (const bad of ['out.gif', 'out', 'dir.png/out']) {
    assert.throws(() => encodeImage(img, bad), (e: unknown) => e instanceof RetinaFaceError && e.message.startsWith(`${bad}: `) && /extension/.test(e.message));
  }
});

test('readImageFile reads the shared baseline photo', async () => {
  const img = await readImageFile(sharedImage('wider_group.jpg'));
  assert.equal([img.width, img.height], [1024, 624]);
});

test.run();
