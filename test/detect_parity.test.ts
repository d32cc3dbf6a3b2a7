// Tier 3: detections against the PyTorch pipeline (test/torch/detect_ref.py, detect.py's
// defaults), image file to faces, on PNGs both sides read identically: the photos of
// ../shared/images as jpeg-js decodes them (so the JPEG decoders are out of the comparison;
// test/torch/jpeg_effect.py measures what they do), whole and cropped to an odd size.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RetinaFace } from '../src/index.js';
import type { Face } from '../src/detect/postprocess.js';
import { INPUTS, type Crop } from './helpers/inputs.js';
import { compareDetections, DETECTION_PARITY, describeParity, parityPng, torchDetections, type ParityTolerance, type TorchDetections } from './helpers/parity.js';
import { officialCheckpoint } from './helpers/paths.js';
import { randomCheckpoint, type Arch } from './helpers/reference.js';

/** detect.py --vis_thres: the faces a user sees; their count is checked on its own. */
const VISIBLE = 0.6;

/** The centre 640x640 of the 2048x1150 selfie: the reference's training size for resnet50. */
const SELFIE_640: Crop = { x: 704, y: 255, width: 640, height: 640 };

interface Case {
  arch: Arch;
  image: string;
  crop?: Crop;
  /** faces with score >= VISIBLE that the official model finds (null: random weights, anything goes) */
  visible: number | null;
}

const CASES: Case[] = [
  { arch: 'mobile0.25', image: 'wider_group.jpg', visible: 26 },
  { arch: 'mobile0.25', image: 'selfie.jpg', visible: 474 },
  { arch: 'mobile0.25', image: 'wider_group.jpg', crop: INPUTS.odd333x517.crop, visible: 8 },
  { arch: 'resnet50', image: 'selfie.jpg', crop: SELFIE_640, visible: null },
  { arch: 'resnet50', image: 'wider_group.jpg', crop: INPUTS.odd333x517.crop, visible: null },
];

// ------------------------------------------------------------ the matching rule, on made-up faces

function face(score: number, box: Face['box']): Face {
  const [x1, y1, x2, y2] = box;
  const c: [number, number] = [(x1 + x2) / 2, (y1 + y2) / 2];
  return { score, box, landmarks: [c, c, c, c, c] };
}

function torchList(faces: Face[]): TorchDetections {
  return {
    arch: 'mobile0.25', height: 100, width: 100, anchors: 168, above_threshold: faces.length, top_k_score: null, faces,
    options: { confidence_threshold: 0.02, top_k: 5000, nms_threshold: 0.4, keep_top_k: 750 },
  };
}

test('compareDetections: matches, worst differences, and which lone faces are knife edges', () => {
  const a = face(0.9, [0, 0, 9, 9]);
  const moved = face(0.90002, [0, 0.01, 9, 9.03]);
  const same = compareDetections([moved], torchList([a]), DETECTION_PARITY);
  assert.equal(same.pairs, [[0, 0]]);
  assert.equal(same.unmatched, []);
  assert.ok(Math.abs(same.worstBox - 0.03) < 1e-9 && Math.abs(same.worstLandmark - 0.02) < 1e-9, `${same.worstBox} ${same.worstLandmark}`);
  assert.ok(Math.abs(same.worstScore - 2e-5) < 1e-9);

  // a face just over the confidence threshold on one side: a cut-off; a confident one: a real difference
  const edge = compareDetections([a], torchList([a, face(0.02005, [50, 50, 60, 60])]), DETECTION_PARITY);
  assert.match(edge.unmatched[0]!.reason ?? '', /cut-off 0.02/);
  const real = compareDetections([a, face(0.5, [50, 50, 60, 60])], torchList([a]), DETECTION_PARITY);
  assert.is(real.unmatched[0]!.reason, undefined);

  // b has IoU 0.4 with a (kept by one side's NMS only); c, suppressed by b, survives where b does not
  const x = 30 / 7; // overlap 10 - x columns: 10 (10 - x) / (200 - 10 (10 - x)) = 0.4
  const b = face(0.7, [x, 0, x + 9, 9]);
  const c = face(0.6, [x + 3, 0, x + 12, 9]);
  const tie = compareDetections([a, c], torchList([a, b]), DETECTION_PARITY);
  assert.equal(tie.unmatched.map((u) => [u.side, u.index]), [['torch', 1], ['ours', 1]]);
  assert.match(tie.unmatched[0]!.reason ?? '', /NMS tie: IoU 0.4/);
  assert.match(tie.unmatched[1]!.reason ?? '', /cascade: overlaps torch #1/);

  // a full list (keep_top_k) moves the floor to its last score
  const full = torchList([a, face(0.3, [50, 50, 60, 60])]);
  full.options.keep_top_k = 2;
  assert.is(compareDetections([a], full, DETECTION_PARITY).floor, 0.3);
});

// ------------------------------------------------------------ the photos

const detectors = new Map<Arch, Promise<RetinaFace>>();
async function weightsFor(arch: Arch): Promise<string> {
  // resnet50: seeded random weights (the official Resnet50_Final.pth is not in ../shared); random
  // weights give arbitrary "faces", and parity must hold for them all the same
  return arch === 'mobile0.25' ? officialCheckpoint() : randomCheckpoint('resnet50', 0, 'zip');
}
function detector(arch: Arch): Promise<RetinaFace> {
  let d = detectors.get(arch);
  if (d === undefined) {
    // The default backend, what a user's RetinaFace.load() runs (cpu-simd here): ~8x quicker than
    // cpu-fast on the selfie and ResNet-50; every backend's module outputs meet PyTorch's in
    // network.test.ts and backend_ops.test.ts.
    d = weightsFor(arch).then((weights) => RetinaFace.load({ arch, weights }));
    detectors.set(arch, d);
  }
  return d;
}

const visible = (faces: Face[]) => faces.filter((f) => f.score >= VISIBLE).length;

for (const c of CASES) {
  const label = `${c.arch} ${c.image}${c.crop ? ` crop ${c.crop.width}x${c.crop.height}` : ''}`;
  test(`parity with detect_ref.py: ${label}`, async () => {
    const png = parityPng(c.image, c.crop);
    const ref = torchDetections(c.arch, await weightsFor(c.arch), png);
    // visThreshold 0: every face the reference keeps (confidence 0.02, NMS 0.4, top 750), not only the visible ones.
    const ours = await (await detector(c.arch)).detect(png, { visThreshold: 0 });
    const r = compareDetections(ours, ref, DETECTION_PARITY);
    console.log(`${describeParity(label, ours, ref, r)}; ${visible(ours)} ours / ${visible(ref.faces)} torch with score >= ${VISIBLE}`);
    for (const u of r.unmatched) console.log(`  ${u.side} #${u.index} score ${u.face.score}: ${u.reason ?? 'UNEXPLAINED'}`);

    const real = r.unmatched.filter((u) => u.reason === undefined);
    assert.equal(real.map((u) => `${u.side} #${u.index} score ${u.face.score} box ${u.face.box.join(', ')}`), [],
      `${label}: faces on one side only with no knife-edge reason`);
    assert.ok(r.pairs.length > 0, `${label}: no faces at all, the comparison would prove nothing`);
    assert.ok(r.worstBox <= DETECTION_PARITY.px, `${label}: box differs by ${r.worstBox} px > ${DETECTION_PARITY.px}`);
    assert.ok(r.worstLandmark <= DETECTION_PARITY.px, `${label}: landmark differs by ${r.worstLandmark} px > ${DETECTION_PARITY.px}`);
    assert.ok(r.worstScore <= DETECTION_PARITY.score, `${label}: score differs by ${r.worstScore} > ${DETECTION_PARITY.score}`);
    assert.is(visible(ours), visible(ref.faces), `${label}: faces with score >= ${VISIBLE}`);
    if (c.visible !== null) assert.is(visible(ref.faces), c.visible, `${label}: visible faces of the official model`);
  });
}

test.after(async () => {
  for (const d of detectors.values()) (await d).dispose();
});

test.run();
