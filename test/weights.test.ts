// The .pth reader and converter against checkpoints saved by PyTorch (test/torch/checkpoints.py):
// every value compared with PyTorch's, every bad or hostile file refused with one clear line.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.js';
import { RetinaFaceError } from '../src/errors.js';
import type { Tensor } from '../src/tensor.js';
import { checkStateDict } from '../src/model/state_dict.js';
import { convertCheckpoint, loadWeights } from '../src/weights/convert.js';
import { expectedShapes } from '../src/model/retinaface.js';
import { decodeTensorFile } from '../src/weights/format.js';
import { MAX_MARK_DEPTH, unpickle } from '../src/weights/pickle.js';
import { readCheckpoint } from '../src/weights/pth.js';
import { readZip } from '../src/weights/zip.js';
import { fixture, markerDir } from './helpers/checkpoints.js';
import { assertClose } from './helpers/compare.js';
import { cacheDir, officialCheckpoint, repoRoot, sharedImage, torchPython } from './helpers/paths.js';

/** The reader copies values, or widens them exactly (float16 and bfloat16 are exact in float32;
 * float64 rounds to nearest, as torch's .float() does): any difference at all is a bug. */
const EXACT = { abs: 0, rel: 0 };
/** sha256 of ../shared/weights/mobilenet0.25_Final.pth, from ../shared/weights/SOURCES.md */
const OFFICIAL_SHA256 = '2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220';

const scratch = cacheDir('weights-test');
const read = (file: string): Uint8Array => readFileSync(file);
const expected = (name: string): Map<string, Tensor> => decodeTensorFile(read(fixture(name)), name).tensors;

function assertSameTensors(label: string, actual: Map<string, Tensor>, want: Map<string, Tensor>): void {
  assert.equal([...actual.keys()], [...want.keys()], `${label}: keys (in order)`);
  for (const [k, t] of want) {
    const a = actual.get(k)!;
    // bit for bit (float16 running_var overflows to Infinity, which must stay Infinity);
    // assertClose only to report the worst element of a mismatch
    if (!bitsOf(a).equals(bitsOf(t))) assertClose(`${label} ${k}`, a, t, EXACT);
    assert.equal(a.shape, t.shape, `${label} ${k}: shape`);
  }
}

function bitsOf(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Runs `fn`, which must throw one RetinaFaceError: one line, naming `file`, containing each of `parts`. */
async function assertRefused(fn: () => unknown, file: string, parts: string[], code?: string): Promise<RetinaFaceError> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  if (!(error instanceof RetinaFaceError)) {
    assert.unreachable(`expected a RetinaFaceError naming ${file}, got ${error === undefined ? 'no error' : String((error as Error).stack ?? error)}`);
  }
  const e = error as RetinaFaceError;
  assert.ok(e.message.startsWith(`${file}`), `message names the file: ${e.message}`);
  assert.not.match(e.message, /\n/, 'one line');
  for (const p of parts) assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} mentions ${JSON.stringify(p)}`);
  if (code !== undefined) assert.is(e.code, code, e.message);
  return e;
}

test('the official legacy checkpoint loads as PyTorch loads it', () => {
  const tensors = readCheckpoint(read(officialCheckpoint()), 'mobilenet0.25_Final.pth');
  // 300 keys minus the 47 BatchNorm num_batches_tracked counters
  assert.is(tensors.size, 253);
  assertSameTensors('official', tensors, expected('official.expected.rfw'));
});

test('expected mobile0.25 names and shapes are exactly the official checkpoint\'s, in order', () => {
  const tensors = readCheckpoint(read(officialCheckpoint()), 'official');
  assert.equal([...expectedShapes('mobile0.25')], [...tensors].map(([k, t]) => [k, t.shape]));
});

for (const name of ['official_zip.pth', 'official_legacy.pth', 'official_zip_p4.pth', 'official_legacy_p4.pth', 'module_prefixed.pth', 'wrapped.pth']) {
  test(`re-saved by PyTorch: ${name}`, () => {
    assertSameTensors(name, readCheckpoint(read(fixture(name)), name), expected('official.expected.rfw'));
  });
}

test('float16 checkpoints widen to float32 exactly', () => {
  assertSameTensors('float16', readCheckpoint(read(fixture('float16.pth')), 'float16.pth'), expected('float16.expected.rfw'));
});

for (const name of ['views_zip.pth', 'views_legacy.pth', 'views_zip64.pth']) {
  test(`views of shared storages (transposes, slices, offsets, 0-dim, empty, float16/64, bfloat16): ${name}`, () => {
    const tensors = readCheckpoint(read(fixture(name)), name);
    assert.not.ok(tensors.has('bn.num_batches_tracked'));
    assertSameTensors(name, tensors, expected('views.expected.rfw'));
    assert.equal(tensors.get('transposed')!.shape, [6, 4]);
    assert.equal(tensors.get('scalar')!.shape, []);
  });
}

test('ResNet-50 (DataParallel "module." keys, seeded random) converts, detected and checked against the architecture', async () => {
  const out = path.join(scratch, 'resnet50.rfw');
  const r = await convertCheckpoint(fixture('resnet50_module.pth'), out);
  assert.is(r.arch, 'resnet50');
  assert.is(r.tensors, expectedShapes('resnet50').size);
  const loaded = await loadWeights(out);
  assert.is(loaded.arch, 'resnet50');
  assertSameTensors('resnet50', loaded.tensors, expected('resnet50.expected.rfw'));
  rmSync(out);
});

test('convert writes the weights format with arch, source sha256 and file name; loadWeights sniffs by content', async () => {
  const out = path.join(scratch, 'mobile.rfw');
  const r = await convertCheckpoint(officialCheckpoint(), out);
  assert.equal(r, { arch: 'mobile0.25', sha256: OFFICIAL_SHA256, tensors: 253, output: out });
  const bytes = read(out);
  const file = decodeTensorFile(bytes, out);
  // data_sha256: the data section's, by node:crypto (the converter computes it in TypeScript)
  const dataStart = 8 + Number(Buffer.from(bytes).readBigUInt64LE(0));
  assert.equal(file.metadata, {
    format: 'retinaface-ts', format_version: '1', arch: 'mobile0.25',
    source_sha256: OFFICIAL_SHA256, source_file: 'mobilenet0.25_Final.pth',
    data_sha256: createHash('sha256').update(bytes.subarray(dataStart)).digest('hex'),
  });
  const want = expected('official.expected.rfw');
  assertSameTensors('converted', file.tensors, want);
  // misleading extensions: content decides
  const pthNamedRfw = path.join(scratch, 'checkpoint.rfw');
  const rfwNamedPth = path.join(scratch, 'converted.pth');
  writeFileSync(pthNamedRfw, read(officialCheckpoint()));
  writeFileSync(rfwNamedPth, read(out));
  for (const f of [pthNamedRfw, rfwNamedPth]) {
    const w = await loadWeights(f);
    assert.is(w.arch, 'mobile0.25');
    assert.is(w.metadata.source_sha256, OFFICIAL_SHA256);
    assertSameTensors(f, w.tensors, want);
  }
  await assertRefused(() => loadWeights(rfwNamedPth, { arch: 'resnet50' }), rfwNamedPth, ['for mobile0.25, not resnet50']);
  for (const f of [out, pthNamedRfw, rfwNamedPth]) rmSync(f);
});

test('missing, unexpected and mis-shaped keys are named in one error', async () => {
  const file = fixture('incomplete.pth');
  await assertRefused(() => loadWeights(file), file, [
    '1 missing (fpn.merge1.1.running_var)',
    '1 unexpected (fpn.merge3.0.weight)',
    '1 mis-shaped (ClassHead.2.conv1x1.weight is (6, 64, 1, 1), expected (4, 64, 1, 1))',
  ], 'EWEIGHTS');
  const official = officialCheckpoint();
  await assertRefused(() => loadWeights(official, { arch: 'resnet50' }), official,
    // fpn, ssh and heads have the same names in both: 118 keys, mis-shaped (64 vs 256 channels)
    ['do not match resnet50', '265 missing (body.conv1.weight,', '135 unexpected (body.stage1.0.0.weight,',
      '109 mis-shaped (fpn.output1.0.weight is (64, 64, 1, 1), expected (256, 512, 1, 1),', 'and 105 more'], 'EWEIGHTS');
  const one = new Map<string, Tensor>([['a', { shape: [2], data: new Float32Array(2) }]]);
  checkStateDict(one, new Map([['a', [2]]]), 'f'); // a match throws nothing
  // names from the file are escaped: a hostile key cannot break the line or drive the terminal
  one.set('evil\nfake: message\x1b[2J', one.get('a')!);
  await assertRefused(() => checkStateDict(one, new Map([['a', [2]]]), 'f'), 'f', ['1 unexpected (evil\\nfake: message\\x1b[2J)']);
});

test('non-float tensors, whole pickled models and impossible views are refused by name', async () => {
  const cases: [string, string[]][] = [
    ['int64_weight.pth', ['tensor conv.index', 'int64']],
    ['whole_model.pth', ['__main__.Tiny', 'state_dict()', 'nothing was executed']],
    ['expanded.pth', ['tensor x', '1000000000000 elements']],
    ['out_of_bounds_view.pth', ['tensor x', 'reaches element 12 of a 10-element storage']],
  ];
  for (const [name, parts] of cases) {
    const file = fixture(name);
    await assertRefused(() => readCheckpoint(read(file), file), file, parts);
  }
});

/** Converting a bad input fails with one line and leaves an existing output untouched. */
async function assertConvertRefused(input: string, parts: string[]): Promise<void> {
  const out = path.join(scratch, 'kept.rfw');
  writeFileSync(out, 'previous contents');
  await assertRefused(() => convertCheckpoint(input, out), input, parts);
  assert.is(readFileSync(out, 'utf8'), 'previous contents', 'output untouched');
  assert.equal(readdirSync(scratch).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  rmSync(out);
}

test('empty, truncated and non-checkpoint files get one clear line naming the file', async () => {
  const official = read(officialCheckpoint());
  const zip = read(fixture('official_zip.pth'));
  const bad = (name: string, bytes: Uint8Array | string): string => {
    const f = path.join(scratch, name);
    writeFileSync(f, bytes);
    return f;
  };
  const cases: [string, string[]][] = [
    [bad('empty.pth', new Uint8Array(0)), ['empty file']],
    [bad('legacy_10.pth', official.subarray(0, 10)), ['truncated']],
    [bad('legacy_1000.pth', official.subarray(0, 1000)), ['truncated']],
    [bad('legacy_half.pth', official.subarray(0, official.length >> 1)), ['truncated']],
    [bad('legacy_minus1.pth', official.subarray(0, official.length - 1)), ['truncated file: storage']],
    [bad('legacy_plus1.pth', Buffer.concat([official, Buffer.from([0])])), ['1 unexpected bytes after the last storage']],
    [bad('zip_half.pth', zip.subarray(0, zip.length >> 1)), ['no end-of-central-directory record']],
    [bad('zip_minus10.pth', zip.subarray(0, zip.length - 10)), ['no end-of-central-directory record']],
    [bad('zip_head.pth', zip.subarray(0, 100)), ['not a valid zip checkpoint']],
    [bad('text.pth', 'hello, not a checkpoint\n'), ['not a PyTorch checkpoint (starts with 68 65 6c 6c']],
    [bad('pickle.pth', new Uint8Array([0x80, 0x02, 0x4b, 0x07, 0x2e])), ['without PyTorch\'s magic number']],
    [sharedImage('wider_group.jpg'), ['not a PyTorch checkpoint (starts with ff d8 ff']],
    [path.join(scratch, 'does-not-exist.pth'), ['no such file or directory']],
    [scratch, ['is a directory']],
  ];
  for (const [file, parts] of cases) await assertConvertRefused(file, parts);
});

test('hostile pickles, bare and inside legacy and zip checkpoints, are refused; the test proves nothing ran', async () => {
  const markers = markerDir();
  mkdirSync(markers, { recursive: true });
  const bare: [string, string][] = [
    ['hostile_global_system.pkl', 'global posix.system'],
    ['hostile_stack_global.pkl', 'global os.system'],
    ['hostile_inst.pkl', 'opcode INST (0x69)'],
    ['hostile_eval.pkl', 'global builtins.eval'],
  ];
  const inCheckpoints: [string, string][] = [
    ['hostile_legacy.pth', 'global posix.system'],
    ['hostile_zip.pth', 'global builtins.eval'],
  ];
  const all = [...bare, ...inCheckpoints].map(([name]) => name);
  for (const name of all) rmSync(path.join(markers, name), { force: true });
  for (const [name, why] of bare) {
    const file = fixture(name);
    await assertRefused(() => unpickle(read(file), 0, file), file, [why, 'nothing was executed'], 'EUNSAFE');
  }
  for (const [name, why] of inCheckpoints) await assertConvertRefused(fixture(name), [why, 'nothing was executed']);
  for (const name of all) assert.not.ok(existsSync(path.join(markers, name)), `${name}: the marker must not exist after our reader refused it`);
  // Control: the same bytes do run under Python's pickle (as torch.load would unpickle them), so the
  // absent markers above mean something. Plain pickle: importing torch costs seconds.
  const control = [
    'import pickle, sys, zipfile',
    'for f in sys.argv[1:]:',
    '    if f.endswith(".pkl"):',
    '        pickle.loads(open(f, "rb").read())',
    '    elif zipfile.is_zipfile(f):',
    '        pickle.loads(zipfile.ZipFile(f).read("archive/data.pkl"))',
    '    else:  # legacy: magic, protocol version, sys_info, then the object, as torch.load reads them',
    '        with open(f, "rb") as fh:',
    '            for _ in range(4): pickle.load(fh)',
  ].join('\n');
  spawnSync(torchPython(), ['-c', control, ...all.map(fixture)], { stdio: 'ignore' });
  for (const name of all) {
    assert.ok(existsSync(path.join(markers, name)), `${name}: control failed, Python did not create the marker`);
    rmSync(path.join(markers, name));
  }
});

test('hand-made hostile pickles: bounds on lengths and nesting, no calls on storage types', async () => {
  const cases: [string, Uint8Array, string, string][] = [
    ['reduce on a storage type', bytes('\x80\x02ctorch\nFloatStorage\n)R.'), 'may be named but not called', 'EUNSAFE'],
    ['BUILD on a global', bytes('\x80\x02ctorch\nFloatStorage\n}b.'), 'BUILD on global torch.FloatStorage', 'EUNSAFE'],
    ['4 GB BINUNICODE', bytes('\x80\x02X\xf0\xff\xff\xffab.'), 'needs 4294967280 bytes', 'EFORMAT'],
    ['2^62 BINBYTES8', bytes('\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x40.'), 'BINBYTES8', 'EFORMAT'],
    ['huge FRAME', bytes('\x80\x04\x95\xff\xff\xff\xff\x00\x00\x00\x00N.'), 'frame of 4294967295 bytes', 'EFORMAT'],
    ['deep MARK nesting', new Uint8Array(1_000_000).fill(0x28), `MARK nesting deeper than ${MAX_MARK_DEPTH}`, 'EFORMAT'],
    ['no STOP', bytes('\x80\x02}q\x00'), 'truncated', 'EFORMAT'],
    ['unknown opcode', bytes('\x80\x02\xff'), 'unknown opcode 0xff', 'EFORMAT'],
    ['memo miss', bytes('\x80\x02h\x05.'), 'memo entry 5 was never stored', 'EFORMAT'],
    ['EXT1', bytes('\x80\x02\x82\x01.'), 'opcode EXT1', 'EUNSAFE'],
    ['OBJ', bytes('\x80\x02(cbuiltins\ndict\no.'), 'opcode OBJ', 'EUNSAFE'],
    ['escaped names', bytes('\x80\x04\x8c\x05a\nb\x1b[\x8c\x01x\x93.'), 'global a\\nb\\x1b[.x is not', 'EUNSAFE'],
  ];
  for (const [label, b, part, code] of cases) {
    await assertRefused(() => unpickle(b, 0, label), label, [part], code);
  }
  // 200,000 nested tuples (far past the JS stack's depth) cost small objects; nothing recurses over them
  const deep = Buffer.concat([bytes('\x80\x02)'), new Uint8Array(200_000).fill(0x85), bytes('.\x80\x02].')]);
  await assertRefused(() => readCheckpoint(Buffer.concat([legacyHeader(), deep]), 'deep'), 'deep', ['holds a tuple of 1, not a state dict']);
});

test('zip CRC-32: a flipped data byte that PyTorch loads without a word is refused, naming the entry', async () => {
  const zip = new Uint8Array(read(fixture('official_zip.pth')));
  const entry = readZip(zip, 'zip').get('official_zip/data/0')!;
  const at = entry.data.byteOffset + 5; // inside body.stage1.0.0.weight's storage
  const flipped = zip.slice();
  flipped[at] ^= 0x01;
  const file = path.join(scratch, 'flipped_zip.pth');
  writeFileSync(file, flipped);
  // PyTorch's loader reads the damaged file as if nothing happened (the control: it really loads)
  const torch = spawnSync(torchPython(), ['-c', 'import sys, torch; sd = torch.load(sys.argv[1], weights_only=True); print(len(sd))', file], { encoding: 'utf8' });
  assert.is(torch.status, 0, `torch.load refused it: ${torch.stderr}`);
  assert.ok(Number(torch.stdout.trim()) > 0, torch.stdout);
  await assertRefused(() => readZip(flipped, 'flipped_zip.pth'), 'flipped_zip.pth', ['entry official_zip/data/0: CRC-32', "differs from the archive's", 'the file is damaged'], 'EFORMAT');
  await assertRefused(() => loadWeights(file), file, ['CRC-32']);
});

test('hostile zip and legacy containers: declared sizes are checked against the file', async () => {
  const zip = new Uint8Array(read(fixture('official_zip.pth')));
  const cd = centralDirectory(zip);
  const patched = (edit: (b: DataView) => void): Uint8Array => {
    const copy = zip.slice();
    edit(new DataView(copy.buffer));
    return copy;
  };
  const cases: [string, Uint8Array, string][] = [
    ['entry past the end', patched((v) => { v.setUint32(cd + 20, 0xfffffff0, true); v.setUint32(cd + 24, 0xfffffff0, true); }), 'run past the end'],
    ['deflated entry', patched((v) => v.setUint16(cd + 10, 8, true)), 'is compressed (method 8)'],
    ['lying entry count', patched((v) => v.setUint16(zip.length - 22 + 10, 0xfffe, true)), '65534 entries cannot fit'],
    ['central directory past the end', patched((v) => v.setUint32(zip.length - 22 + 16, 0x7ffffff0, true)), 'central directory'],
  ];
  for (const [label, b, part] of cases) await assertRefused(() => readZip(b, label), label, [part], 'EFORMAT');
  // the untouched archive: stored entries, data.pkl under torch's folder named after the file
  const entries = readZip(zip, 'zip');
  assert.ok(entries.has('official_zip/data.pkl'), [...entries.keys()].slice(0, 3).join(', '));
  assert.is(entries.get('official_zip/data/0')!.data.length, 8 * 3 * 3 * 3 * 4, 'body.stage1.0.0.weight storage');

  // legacy: the element count in front of a storage must match the pickle's
  const legacy = new Uint8Array(read(fixture('views_legacy.pth')));
  let end = 0;
  for (let i = 0; i < 5; i++) end = unpickle(legacy, end, 'views_legacy').end;
  new DataView(legacy.buffer).setBigUint64(end, 0xffffffffffffffffn, true);
  await assertRefused(() => readCheckpoint(legacy, 'views_legacy'), 'views_legacy', ['holds 4294967295 * 2^32 + 4294967295 elements but the pickle declares']);
});

test('cli: convert, --help, --version, usage and input errors with their exit codes', async () => {
  const lines: { out: string[]; err: string[] } = { out: [], err: [] };
  const io = { out: (l: string) => lines.out.push(l), err: (l: string) => lines.err.push(l) };
  const run = async (...argv: string[]): Promise<number> => {
    lines.out.length = 0;
    lines.err.length = 0;
    return main(argv, io);
  };
  const out = path.join(scratch, 'cli.rfw');
  assert.is(await run('convert', officialCheckpoint(), out), 0);
  assert.match(lines.out.join('\n'), `mobile0.25, 253 tensors`);
  assert.is(decodeTensorFile(read(out), out).metadata.arch, 'mobile0.25');
  assert.is(await run('convert', '--arch=mobile0.25', officialCheckpoint(), out), 0);
  assert.is(await run('--version'), 0);
  assert.equal(lines.out, [`retinaface ${JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version}`]);
  assert.is(await run('--help'), 0);
  assert.match(lines.out.join('\n'), 'convert');
  assert.is(await run('convert', '--help'), 0);
  assert.match(lines.out.join('\n'), '--arch ARCH');
  for (const argv of [[], ['bogus'], ['convert'], ['convert', 'a', 'b', 'c'], ['convert', '--arch', 'vgg', 'a', 'b'], ['convert', '--frobnicate', 'a', 'b'], ['convert', 'a', 'b', '--arch']]) {
    assert.is(await run(...argv), 2, argv.join(' '));
  }
  assert.is(await run('convert', '--arch', 'vgg', 'a', 'b'), 2);
  assert.equal(lines.err, ['retinaface: --arch must be one of mobile0.25, resnet50, got vgg (see retinaface --help)']);
  const jpeg = sharedImage('wider_group.jpg');
  assert.is(await run('convert', jpeg, out), 1);
  assert.equal(lines.err, [`retinaface: ${jpeg}: not a PyTorch checkpoint (starts with ff d8 ff e0; expected a zip archive or a legacy pickle)`]);
  // the real executable: shebang, direct run, exit code, one line on stderr and no stack
  const cli = path.join(repoRoot, 'dist', 'src', 'cli.js');
  assert.ok(readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node\n'));
  const r = spawnSync(process.execPath, [cli, 'convert', fixture('hostile_legacy.pth'), out], { encoding: 'utf8' });
  assert.is(r.status, 1);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /^retinaface: .*hostile_legacy\.pth: refusing unsafe pickle .*nothing was executed\n$/);
  rmSync(out);
});

function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** What torch writes before the object in a legacy file: magic, protocol 1001, sys_info. */
function legacyHeader(): Uint8Array {
  const official = read(officialCheckpoint());
  let end = 0;
  for (let i = 0; i < 3; i++) end = unpickle(official, end, 'official').end;
  return official.subarray(0, end);
}

/** Offset of the first central directory record (from the end-of-central-directory record). */
function centralDirectory(zip: Uint8Array): number {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  assert.is(v.getUint32(zip.length - 22, true), 0x06054b50, 'torch writes no zip comment');
  return v.getUint32(zip.length - 22 + 16, true);
}

test.run();
