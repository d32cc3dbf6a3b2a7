// `retinaface eval` and `detect --wider_out` against the WIDER FACE protocol implemented
// independently in Python at test time (test/torch/wider_eval_ref.py: the reference repository's
// evaluation.py in NumPy, the .mat files read by scipy.io.loadmat). The dataset is synthetic
// (seeded here): three events, images with 0 to 14 faces, the easy / medium / hard face lists
// nested subsets, predictions near the faces (some near the IoU 0.5 boundary, some matching
// ignored faces), false positives, an image without predictions; the .mat files are written by
// scipy.io.savemat (the hard one compressed), the boxes text file here. Also the MAT reader on
// those files and on broken ones, and --wider_out's files on the group photo, evaluated against
// the photo's own visible faces. Needs /usr/bin/python3 with NumPy and SciPy (fails without).
import { mkdirSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.js';
import { readMat } from '../src/eval/matlab.js';
import { RetinaFaceError } from '../src/errors.js';
import { rng } from '../src/harness/random.js';
import { RetinaFaceDetector } from '../src/detector.js';
import { loadWeights } from '../src/weights/convert.js';
import { widerText } from '../src/cli/detect.js';
import { cacheDir, officialCheckpoint, repoRoot, runTorchPython, sharedImage } from './helpers/paths.js';

const SCRIPT = path.join(repoRoot, 'test', 'torch', 'wider_eval_ref.py');
/**
 * APs and curves against NumPy's: both compute in float64 in the same order, except that
 * np.sum adds the AP's terms pairwise (ours in turn): they differ by a few ulp of 1.
 */
const AP_TOLERANCE = 1e-12;

interface Img { name: string; boxes: number[][]; keep: Record<'easy' | 'medium' | 'hard', number[]> }
interface Spec { events: { name: string; images: Img[] }[] }

const dir = cacheDir('eval-test');

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** The synthetic dataset: spec (for the .mat files), the boxes text file, the prediction files. */
function makeDataset(root: string): Spec {
  const r = rng(20261203);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const spec: Spec = { events: [] };
  const gtLines: string[] = [];
  for (const [e, evName] of ['0--Parade', '12--Group', '51--Dresses'].entries()) {
    const images: Img[] = [];
    mkdirSync(path.join(root, 'pred', evName), { recursive: true });
    for (let k = 0; k < 3 + e; k++) {
      const name = `${evName.split('--')[0]}_${evName.split('--')[1]}_${k}`;
      const n = k === 1 && e === 0 ? 0 : int(1, 14);
      const boxes = Array.from({ length: n }, () => { const s = int(6, 120); return [int(0, 900), int(0, 600), s, Math.round(s * (1.1 + 0.3 * r()))]; });
      // hard: every face that is not too small; medium: the larger of those; easy: the largest (nested, as the official sets)
      const idx = boxes.map((_, i) => i + 1);
      const hard = idx.filter((i) => boxes[i - 1]![2]! >= 8 || r() < 0.3);
      const medium = hard.filter((i) => boxes[i - 1]![2]! >= 20);
      const easy = medium.filter((i) => boxes[i - 1]![2]! >= 50);
      images.push({ name, boxes, keep: { easy, medium, hard } });
      gtLines.push(`${evName}/${name}.jpg`, String(n), ...(n === 0 ? ['0 0 0 0 0 0 0 0 0 0 '] : boxes.map((b) => `${b.join(' ')} 0 0 0 0 0 0 `)));
      // predictions: most faces found, jittered (some past IoU 0.5), with scores loosely tied to size; false positives
      const preds: number[][] = [];
      if (!(e === 2 && k === 0)) {
        for (const b of boxes) {
          if (r() < 0.15) continue;
          const j = () => Math.round((r() - 0.5) * 0.6 * b[2]!);
          preds.push([b[0]! + j(), b[1]! + j(), Math.max(1, b[2]! + j()), Math.max(1, b[3]! + j()), Math.min(0.999, 0.3 + 0.6 * r() + b[2]! / 400)]);
        }
        for (let f = int(0, 5); f > 0; f--) preds.push([int(0, 900), int(0, 600), int(6, 80), int(6, 90), 0.02 + 0.7 * r() ** 2]);
      }
      preds.sort((a, b) => b[4]! - a[4]!);
      writeFileSync(path.join(root, 'pred', evName, `${name}.txt`), `${name}\n${preds.length}\n${preds.map((p) => `${p.slice(0, 4).join(' ')} ${p[4]!.toFixed(6)} \n`).join('')}`);
    }
    spec.events.push({ name: evName, images });
  }
  mkdirSync(path.join(root, 'gt'), { recursive: true });
  writeFileSync(path.join(root, 'gt', 'wider_face_val_bbx_gt.txt'), gtLines.join('\n') + '\n');
  writeFileSync(path.join(root, 'spec.json'), JSON.stringify(spec));
  return spec;
}

let spec: Spec;
const data = path.join(dir, 'synthetic');

test.before(() => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(data, { recursive: true });
  spec = makeDataset(data);
  runTorchPython(SCRIPT, ['write', path.join(data, 'spec.json'), path.join(data, 'gt')]);
  runTorchPython(SCRIPT, ['eval', path.join(data, 'pred'), path.join(data, 'gt'), path.join(data, 'ref.json')]);
});

test('MAT reader: scipy.io.savemat\'s cell arrays (plain and zlib-compressed) read back as written', () => {
  for (const s of ['easy', 'hard'] as const) {
    const file = path.join(data, 'gt', `wider_${s}_val.mat`);
    const vars = readMat(readFileSync(file), file);
    const events = vars.get('event_list'), files = vars.get('file_list'), gts = vars.get('gt_list');
    assert.ok(events?.kind === 'cell' && files?.kind === 'cell' && gts?.kind === 'cell');
    assert.equal(events.cells.map((c) => (c.kind === 'char' ? c.text : null)), spec.events.map((e) => e.name));
    spec.events.forEach((e, i) => {
      const f = files.cells[i]!, g = gts.cells[i]!;
      assert.ok(f.kind === 'cell' && g.kind === 'cell');
      assert.equal(f.cells.map((c) => (c.kind === 'char' ? c.text : null)), e.images.map((im) => im.name));
      assert.equal(g.cells.map((c) => (c.kind === 'numeric' ? [...c.data] : null)), e.images.map((im) => im.keep[s]));
    });
  }
  const val = readMat(readFileSync(path.join(data, 'gt', 'wider_face_val.mat')), 'wider_face_val.mat').get('face_bbx_list')!;
  assert.ok(val.kind === 'cell');
  const first = val.cells[0]!;
  assert.ok(first.kind === 'cell' && first.cells[0]!.kind === 'numeric');
  const b = first.cells[0] as { dims: number[]; data: Float64Array };
  // MATLAB stores column-major: (n, 4) boxes as x1..xn, y1..yn, ...
  const n = spec.events[0]!.images[0]!.boxes.length;
  assert.equal(b.dims, [n, 4]);
  assert.equal([b.data[0], b.data[n], b.data[2 * n], b.data[3 * n]], spec.events[0]!.images[0]!.boxes[0]);
});

test('MAT reader: broken files are refused with the file and the offset, never a hang or a crash', () => {
  const good = readFileSync(path.join(data, 'gt', 'wider_easy_val.mat'));
  const compressed = readFileSync(path.join(data, 'gt', 'wider_hard_val.mat'));
  const cases: [string, Uint8Array, RegExp][] = [
    ['short', good.subarray(0, 100), /shorter than its 128-byte header/],
    ['not MAT', Buffer.concat([Buffer.from('MATLAB 7.3 MAT-file, HDF5'), good.subarray(25)]), /v7.3 file, HDF5/],
    ['endian', Buffer.concat([good.subarray(0, 126), Buffer.from('XX'), good.subarray(128)]), /endian indicator/],
    ['truncated', good.subarray(0, good.length - 40), /runs past the end|with \d+ left/],
    ['bad zlib', Buffer.concat([compressed.subarray(0, 140), Buffer.alloc(64, 0x55), compressed.subarray(204)]), /does not inflate/],
  ];
  // A cell array whose count claims more cells than its bytes can hold: patch the first dims of the top matrix.
  const huge = Buffer.from(good);
  const dimsAt = 128 + 8 + 16 + 8; // tag, flags element (16), dims tag
  huge.writeInt32LE(0x7fffffff, dimsAt);
  cases.push(['huge count', huge, /cells in \d+ bytes/]);
  for (const [name, bytes, want] of cases) {
    try {
      readMat(bytes, `${name}.mat`);
      assert.unreachable(`${name}: read`);
    } catch (e) {
      assert.instance(e, RetinaFaceError, `${name}: ${String(e)}`);
      assert.match((e as Error).message, want, name);
      assert.match((e as Error).message, `${name}.mat`, name);
    }
  }
});

test('eval: APs and PR curves equal the Python protocol\'s on the synthetic dataset', async () => {
  const ref = JSON.parse(readFileSync(path.join(data, 'ref.json'), 'utf8')) as Record<string, { ap: number; faces: number; precision: (number | null)[]; recall: number[] }>;
  const json = path.join(data, 'ours.json'), svg = path.join(data, 'pr.svg');
  const r = await cli('eval', '--pred', path.join(data, 'pred'), '--gt', path.join(data, 'gt'), '--json', json, '--svg', svg);
  assert.is(r.code, 0, r.err.join('\n'));
  const ours = JSON.parse(readFileSync(json, 'utf8')) as { settings: { setting: string; ap: number; faces: number; precision: (number | null)[]; recall: number[] }[] };
  for (const s of ours.settings) {
    const want = ref[s.setting]!;
    assert.is(s.faces, want.faces, `${s.setting} faces`);
    assert.ok(Math.abs(s.ap - want.ap) <= AP_TOLERANCE, `${s.setting}: AP ${s.ap} against ${want.ap}`);
    assert.ok(want.ap > 0.2 && want.ap < 0.99, `${s.setting}: the synthetic AP ${want.ap} should be neither trivial nor perfect`);
    s.precision.forEach((p, t) => assert.ok(p === null ? want.precision[t] === null : Math.abs(p - want.precision[t]!) <= AP_TOLERANCE, `${s.setting} precision at ${t}`));
    s.recall.forEach((v, t) => assert.ok(Math.abs(v - want.recall[t]!) <= AP_TOLERANCE, `${s.setting} recall at ${t}`));
  }
  assert.is(r.out.length, 3);
  assert.match(r.out[0]!, /^easy {3}AP 0\.\d{4} \(\d+ faces\)$/);
  assert.match(readFileSync(svg, 'utf8'), /<polyline[^>]+points="[\d., ]+"/);
});

test('eval: a missing prediction file or ground truth is one line naming it, exit 1', async () => {
  const broken = path.join(dir, 'broken');
  cpSync(path.join(data, 'pred'), broken, { recursive: true });
  rmSync(path.join(broken, '12--Group', '12_Group_1.txt'));
  let r = await cli('eval', '--pred', broken, '--gt', path.join(data, 'gt'));
  assert.is(r.code, 1);
  assert.match(r.err.at(-1)!, /no prediction file 12--Group\/12_Group_1\.txt/);
  r = await cli('eval', '--pred', path.join(data, 'pred'), '--gt', path.join(dir, 'nowhere'));
  assert.is(r.code, 1);
  assert.match(r.err.at(-1)!, /wider_face_val_bbx_gt\.txt/);
  r = await cli('eval', '--pred', path.join(data, 'pred'));
  assert.is(r.code, 2);
});

test('detect --wider_out: the submission files of the group photo, and their AP against its own visible faces', async () => {
  const images = path.join(dir, 'images', '0--Parade');
  mkdirSync(images, { recursive: true });
  cpSync(sharedImage('wider_group.jpg'), path.join(images, 'group.jpg'));
  const out = path.join(dir, 'wider_out');
  mkdirSync(out, { recursive: true });
  const weights = officialCheckpoint();
  const r = await cli('detect', '-i', images, '--wider_out', out, '--weights', weights, '--backend', 'cpu', '-s', path.join(dir, 'drawn.png'), '-q');
  assert.is(r.code, 0, r.err.join('\n'));
  const text = readFileSync(path.join(out, '0--Parade', 'group.txt'), 'utf8');
  const w = await loadWeights(weights);
  const d = await RetinaFaceDetector.fromTensors(w.tensors, { arch: 'mobile0.25', backend: 'cpu' });
  const det = await d.detectDetailed(readFileSync(sharedImage('wider_group.jpg')));
  d.dispose();
  assert.is(text, widerText('group.jpg', det.candidates));
  const lines = text.split('\n');
  assert.is(lines[0], 'group');
  assert.is(Number(lines[1]), det.candidates.length);
  assert.ok(det.candidates.length > det.faces.length, 'every kept face is written, not only the visible ones');
  // Ground truth = the visible faces (x y w h): the predictions recall them all at high scores.
  const gtDir = path.join(dir, 'self-gt');
  mkdirSync(gtDir, { recursive: true });
  const boxes = det.faces.map((f) => [f.box[0], f.box[1], f.box[2] - f.box[0], f.box[3] - f.box[1]].map(Math.round));
  const all = det.faces.map((_, i) => i + 1);
  writeFileSync(path.join(gtDir, 'spec.json'), JSON.stringify({ events: [{ name: '0--Parade', images: [{ name: 'group', boxes, keep: { easy: all, medium: all, hard: all } }] }] }));
  writeFileSync(path.join(gtDir, 'wider_face_val_bbx_gt.txt'), `0--Parade/group.jpg\n${boxes.length}\n${boxes.map((b) => `${b.join(' ')} 0 0 0 0 0 0 `).join('\n')}\n`);
  runTorchPython(SCRIPT, ['write', path.join(gtDir, 'spec.json'), gtDir]);
  const e = await cli('eval', '--pred', out, '--gt', gtDir);
  assert.is(e.code, 0, e.err.join('\n'));
  for (const line of e.out) assert.ok(Number(/AP ([\d.]+)/.exec(line)![1]) >= 0.99, line);
});

test.run();
