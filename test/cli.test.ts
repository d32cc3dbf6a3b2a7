// The CLI on bad input of every kind (one clear line naming the file, non-zero exit, no stack,
// no output left behind, nothing overwritten) and on unusual-but-valid images.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.js';
import { RetinaFace } from '../src/index.js';
import { readTensorFile } from '../src/weights/files.js';
import { cacheDir, officialCheckpoint, repoRoot, sharedImage } from './helpers/paths.js';
import { encodePng, exifApp1, insertAfterSoi, pngHeaderOnly, withSofSize } from './helpers/images.js';

// Weights resolve as a user's would: the cache (git-ignored, in the repo), filled from the
// official .pth in RETINAFACE_WEIGHTS_DIR; never the network.
process.env.RETINAFACE_CACHE = cacheDir('home');
process.env.RETINAFACE_WEIGHTS_DIR = path.dirname(officialCheckpoint());
process.env.RETINAFACE_OFFLINE = '1';

const dir = mkdtempSync(path.join(os.tmpdir(), 'retinaface cli é-'));
const file = (name: string, bytes: Uint8Array | string) => {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, bytes);
  return p;
};

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

function rgbPng(width: number, height: number, fill: (x: number, y: number) => [number, number, number]): Uint8Array {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const [r, g, b] = fill(x, y);
    png.data.set([r, g, b, 255], 4 * (y * width + x));
  }
  return PNG.sync.write(png);
}

const group = readFileSync(sharedImage('wider_group.jpg'));
const smallJpeg = jpeg.encode({ width: 32, height: 24, data: Buffer.alloc(32 * 24 * 4, 128) }, 90).data;

const BAD: [string, () => string[], RegExp][] = [
  ['empty file', () => ['-i', file('empty.jpg', '')], /empty\.jpg: .*(empty|0 bytes)/i],
  ['text named .jpg', () => ['-i', file('text.jpg', 'hello, not an image\n')], /text\.jpg: .*(unrecognised|not .*(JPEG|PNG|image))/i],
  ['truncated JPEG', () => ['-i', file('trunc.jpg', group.subarray(0, group.length >> 1))], /trunc\.jpg: .*(truncated|corrupt)/i],
  ['corrupt JPEG', () => ['-i', file('corrupt.jpg', Buffer.concat([group.subarray(0, 600), Buffer.alloc(4000, 0xff), group.subarray(4600)]))], /corrupt\.jpg: .*(corrupt|truncated|invalid)/i],
  ['truncated PNG', () => ['-i', file('trunc.png', rgbPng(64, 64, (x, y) => [x, y, 0]).subarray(0, 60))], /trunc\.png: .*(truncated|corrupt)/i],
  ['corrupt PNG', () => {
    const p = Buffer.from(rgbPng(16, 16, (x) => [x * 16, 0, 0]));
    p[40] = (p[40]! ^ 0x55); // inside IDAT: CRC and zlib both break
    return ['-i', file('corrupt.png', p)];
  }, /corrupt\.png: .*(corrupt|truncated|crc|invalid)/i],
  ['GIF', () => ['-i', file('anim.gif', 'GIF89a\x01\x00\x01\x00\x00\x00\x00;')], /anim\.gif: .*GIF/],
  ['PNG declaring 100000x100000', () => ['-i', file('bomb.png', pngHeaderOnly(100000, 100000))], /bomb\.png: .*(pixel|limit|too large)/i],
  ['JPEG declaring 65535x65535', () => ['-i', file('bomb.jpg', withSofSize(smallJpeg, 65535, 65535))], /bomb\.jpg: .*(pixel|limit|too large)/i],
  ['zero width', () => ['-i', file('zero.png', pngHeaderOnly(0, 10))], /zero\.png: .*(zero|width)/i],
  ['missing file', () => ['-i', path.join(dir, 'nope.jpg')], /nope\.jpg: no such file/],
  ['directory with no images', () => { mkdirSync(path.join(dir, 'empty dir'), { recursive: true }); return ['-i', path.join(dir, 'empty dir')]; }, /empty dir: directory holds no/],
  // WIDER FACE's images/<event>/ layout: the folders are named with how to pass them
  ['directory of folders', () => { file('images/0--Parade/a.jpg', smallJpeg); return ['-i', path.join(dir, 'images')]; }, /images: directory holds no .*its folder is not searched: pass it, e\.g\. --input .*images.\*/],
  ['missing save directory', () => ['-i', file('ok.png', rgbPng(8, 8, () => [1, 2, 3])), '-s', path.join(dir, 'no such dir', 'out.png')], /no such dir: the savepath directory does not exist/],
  ['savepath under a file', () => ['-i', file('ok.png', rgbPng(8, 8, () => [1, 2, 3])), '-s', path.join(dir, 'ok.png', 'out.png')], /ok\.png: the savepath is not a directory/],
  ['savepath with an unknown extension', () => ['-i', file('ok.png', rgbPng(8, 8, () => [1, 2, 3])), '-s', path.join(dir, 'out.gif')], /out\.gif: .*(extension|format)/i],
  ['savepath is the input', () => ['-i', file('self.png', rgbPng(8, 8, () => [1, 2, 3])), '-s', path.join(dir, 'self.png')], /self\.png: the savepath is the input/],
];

const USAGE: [string, string[], RegExp][] = [
  ['unknown option', ['-i', 'x.jpg', '--nope'], /unknown option --nope/],
  ['no input', ['--savepath', 'x.png'], /--input IMAGE is required/],
  ['input without a value', ['--input'], /--input needs a value/],
  ['rescale below 1', ['-i', 'x.jpg', '--rescale', '0.5'], /--rescale must be a number >= 1, got 0.5/],
  ['vis_thres above 1', ['-i', 'x.jpg', '--vis_thres', '2'], /--vis_thres must be a number from 0 to 1, got 2/],
  ['top_k not an integer', ['-i', 'x.jpg', '--top_k', '1.5'], /--top_k must be an integer >= 1, got 1.5/],
  ['nms_threshold not a number', ['-i', 'x.jpg', '--nms_threshold', 'abc'], /--nms_threshold must be a number/],
  ['unknown arch', ['-i', 'x.jpg', '--arch', 'vgg'], /--arch must be one of mobile0.25, resnet50, got vgg/],
  ['unknown command', ['detekt'], /unknown command detekt/],
  ['scales with an empty entry', ['-i', 'x.jpg', '--scales', '1,,2'], /--scales must be up to 16 comma-separated numbers .* got 1,,2/],
  ['scales of zero', ['-i', 'x.jpg', '--scales', '0'], /--scales must be up to 16 comma-separated numbers/],
  ['scales repeated', ['-i', 'x.jpg', '--scales', '2,2'], /--scales lists a scale twice: 2,2/],
  ['merge alone', ['-i', 'x.jpg', '--merge', 'vote'], /--merge chooses how the runs of --scales\/--flip merge: add --scales or --flip/],
  ['merge unknown', ['-i', 'x.jpg', '--flip', '--merge', 'wbf'], /--merge must be one of nms, vote, got wbf/],
  ['rescale with scales', ['-i', 'x.jpg', '--rescale', '2', '--scales', '1,2'], /--rescale and --scales\/--flip together/],
];

test('bad files and save paths: exit 1, one line naming the file, no output left, nothing overwritten', async () => {
  const keep = file('keep.png', 'previous content');
  for (const [name, argv, pattern] of BAD) {
    const args = argv();
    const target = args.includes('-s') ? args[args.indexOf('-s') + 1]! : keep;
    const before = existsSync(target) ? readFileSync(target) : null;
    const r = await cli(...args, ...(args.includes('-s') ? [] : ['-s', keep]), '-q');
    assert.is(r.code, 1, `${name}: exit code`);
    assert.is(r.err.length, 1, `${name}: one line, got ${JSON.stringify(r.err)}`);
    assert.match(r.err[0]!, pattern, `${name}: ${r.err[0]}`);
    assert.not.match(r.err[0]!, /\n|    at /, `${name}: no stack`);
    assert.equal(existsSync(target) ? readFileSync(target) : null, before, `${name}: ${target} untouched`);
  }
});

test('usage errors: exit 2 with the reason', async () => {
  for (const [name, argv, pattern] of USAGE) {
    const r = await cli(...argv);
    assert.is(r.code, 2, `${name}: exit code`);
    assert.match(r.err.join('\n'), pattern, name);
  }
});

test('--scales 1,2 --flip --merge vote: four network runs, listed by -b', async () => {
  const input = file('multi.png', rgbPng(160, 120, (x, y) => [x, y, (x * y) & 255]));
  const r = await cli('-i', input, '-s', path.join(dir, 'multi-out.png'), '--scales', '1,2', '--flip', '--merge', 'vote', '-b', '-c', '1', '-q');
  assert.is(r.code, 0, r.err.join('\n'));
  assert.match(r.out[0]!, /160x120 -> 4 network runs \(160x120, 160x120 flipped, 320x240, 320x240 flipped\)/);
});

test('--raw writes the network\'s loc, conf and landms: the library\'s detectDetailed raw outputs, value for value (also when -b reruns the detection: the file is the last run\'s)', async () => {
  const group = sharedImage('wider_group.jpg');
  const d = await RetinaFace.load();
  const want = (await d.detectDetailed(group)).raw;
  d.dispose();
  for (const extra of [[], ['-b', '-c', '2']]) {
    const rawFile = path.join(dir, `raw${extra.length}.bin`);
    const r = await cli('-i', group, '-s', path.join(dir, 'raw-out.png'), '--raw', rawFile, '-q', ...extra);
    assert.is(r.code, 0, r.err.join('\n'));
    const got = (await readTensorFile(rawFile)).tensors;
    for (const k of ['loc', 'conf', 'landms'] as const) {
      assert.equal(got.get(k)!.shape, want[k].shape, k);
      assert.ok(got.get(k)!.data.every((v, i) => v === want[k].data[i]), `${k} ${extra.join(' ')}: the library's values`);
    }
  }
});

test('the real process: one line on stderr, exit code 1, no stack; --help and --version exit 0', () => {
  const bin = path.join(repoRoot, 'dist', 'src', 'cli.js');
  const r = spawnSync(process.execPath, [bin, '-i', file('bad.jpg', 'nope'), '-s', path.join(dir, 'x.png')], { encoding: 'utf8', env: process.env, timeout: 60_000 });
  assert.is(r.status, 1);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^retinaface: .*bad\.jpg: /);
  assert.ok(!existsSync(path.join(dir, 'x.png')));
  const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  assert.is(help.status, 0);
  assert.match(help.stdout, /--input IMAGE/);
  assert.is(spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).status, 0);
});

/** Runs one valid image through the CLI with --write_json and returns the JSON. */
async function detectJson(input: string, ...extra: string[]): Promise<{ width: number; height: number; faces: unknown[] }> {
  const out = path.join(dir, 'out', `${path.basename(input)}.png`);
  mkdirSync(path.dirname(out), { recursive: true });
  const r = await cli('-i', input, '-s', out, '--write_json', '-q', ...extra);
  assert.is(r.code, 0, `${input}: ${r.err.join(' ')}`);
  assert.ok(existsSync(out), `${out} written`);
  return JSON.parse(readFileSync(out.replace(/\.png$/, '.json'), 'utf8'));
}

test('unusual but valid: 1x1, gray, 16-bit, palette, alpha, interlaced, progressive, EXIF-rotated, very wide, odd paths', async () => {
  const px = (w: number, h: number, colorType: 0 | 2 | 3 | 4 | 6, depth: 8 | 16, ch: number, extra = {}) =>
    encodePng({ width: w, height: h, colorType, depth, samples: Array.from({ length: w * h * ch }, (_, i) => (i * 37) % (depth === 16 ? 65536 : 256)), ...extra });
  const cases: [string, Uint8Array, number, number][] = [
    ['one pixel.png', px(1, 1, 2, 8, 3), 1, 1],
    ['gray.png', px(40, 30, 0, 8, 1), 40, 30],
    ['deep16.png', px(40, 30, 2, 16, 3), 40, 30],
    ['palette.png', encodePng({ width: 20, height: 10, colorType: 3, depth: 8, palette: [[255, 0, 0], [0, 255, 0]], samples: Array.from({ length: 200 }, (_, i) => i % 2) }), 20, 10],
    ['alpha.png', px(25, 17, 6, 8, 4), 25, 17],
    ['interlaced.png', px(33, 21, 2, 8, 3, { interlace: true }), 33, 21],
    ['visage é 顔.jpg', smallJpeg, 32, 24],
    ['rotated.jpg', insertAfterSoi(group, exifApp1(6)), 624, 1024],
  ];
  for (const [name, bytes, w, h] of cases) {
    const j = await detectJson(file(path.join('valid inputs', name), bytes));
    assert.equal([j.width, j.height], [w, h], `${name}: size after decoding`);
  }
  const progressive = await detectJson(sharedImage('sample.jpg'));
  assert.equal([progressive.width, progressive.height], [1600, 898]);
  assert.ok(progressive.faces.length > 0, 'faces found in the progressive crowd photo');
  const wide = await detectJson(file('wide.png', rgbPng(20000, 300, (x, y) => [(x * 7) & 255, (y * 3) & 255, 90])));
  assert.equal([wide.width, wide.height], [20000, 300]);
});

test('a directory of inputs: each reported, drawn into the save directory, bad ones named, exit 1', async () => {
  const inDir = path.join(dir, 'batch');
  file('batch/a.png', rgbPng(16, 16, () => [9, 9, 9]));
  file('batch/b.jpg', 'broken');
  const outDir = path.join(dir, 'batch out');
  mkdirSync(outDir);
  const r = await cli('-i', inDir, '-s', outDir, '-q');
  assert.is(r.code, 1);
  assert.match(r.out.join('\n'), /a\.png: 0 faces/);
  assert.match(r.err.join('\n'), /b\.jpg: /);
  assert.ok(existsSync(path.join(outDir, 'a.png')));
  assert.ok(!existsSync(path.join(outDir, 'b.jpg')));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
