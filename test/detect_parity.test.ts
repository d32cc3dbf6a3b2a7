// Tier 3: detections against the PyTorch pipeline (test/torch/detect_ref.py, detect.py's
// defaults), image file to faces, on PNGs both sides read identically: the photos of
// ../shared/images as jpeg-js decodes them (so the JPEG decoders are out of the comparison;
// test/torch/jpeg_effect.py measures what they do), whole and cropped to an odd size.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RetinaFace } from '../src/index.js';
import type { Face } from '../src/detect/postprocess.js';
import { INPUTS } from './helpers/inputs.js';
import { compareDetections, describeParity, parityPng, torchDetections, type Crop, type ParityTolerance } from './helpers/parity.js';
import { officialCheckpoint } from './helpers/paths.js';
import { randomCheckpoint, type Arch } from './helpers/reference.js';

/**
 * The issue's tolerances. Pixels: the box and landmark coordinates are the head outputs times
 * ~0.1-0.2 prior widths (tens of pixels) plus exact prior centres, so the ~1e-5 relative float32
 * difference of the two forwards gives ~1e-3 px; 0.05 px is far under anything visible. Score:
 * a softmax of logits that differ by ~1e-5.
 */
const TOL: ParityTolerance = {
  px: 0.05,
  score: 1e-4,
  /** the IoU of two boxes >= 8 px wide moves by < 1e-3 when their corners move by 1e-3 px */
  iou: 1e-3,
  /** the same face on both sides has IoU > 0.99 at 0.05 px; two kept faces have IoU <= nms_threshold (0.4) */
  matchIou: 0.9,
};

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

const detectors = new Map<Arch, Promise<RetinaFace>>();
async function weightsFor(arch: Arch): Promise<string> {
  // resnet50: seeded random weights (the official Resnet50_Final.pth is not in ../shared); random
  // weights give arbitrary "faces", and parity must hold for them all the same
  return arch === 'mobile0.25' ? officialCheckpoint() : randomCheckpoint('resnet50', 0, 'zip');
}
function detector(arch: Arch): Promise<RetinaFace> {
  let d = detectors.get(arch);
  if (d === undefined) {
    d = weightsFor(arch).then((weights) => RetinaFace.load({ arch, weights, backend: 'cpu' }));
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
    const ours = await (await detector(c.arch)).detect(png);
    const r = compareDetections(ours, ref, TOL);
    console.log(`${describeParity(label, ours, ref, r)}; ${visible(ours)} ours / ${visible(ref.faces)} torch with score >= ${VISIBLE}`);
    for (const u of r.unmatched) console.log(`  ${u.side} #${u.index} score ${u.face.score}: ${u.reason ?? 'UNEXPLAINED'}`);

    const real = r.unmatched.filter((u) => u.reason === undefined);
    assert.equal(real.map((u) => `${u.side} #${u.index} score ${u.face.score} box ${u.face.box.join(', ')}`), [],
      `${label}: faces on one side only with no knife-edge reason`);
    assert.ok(r.pairs.length > 0, `${label}: no faces at all, the comparison would prove nothing`);
    assert.ok(r.worstBox <= TOL.px, `${label}: box differs by ${r.worstBox} px > ${TOL.px}`);
    assert.ok(r.worstLandmark <= TOL.px, `${label}: landmark differs by ${r.worstLandmark} px > ${TOL.px}`);
    assert.ok(r.worstScore <= TOL.score, `${label}: score differs by ${r.worstScore} > ${TOL.score}`);
    assert.is(visible(ours), visible(ref.faces), `${label}: faces with score >= ${VISIBLE}`);
    if (c.visible !== null) assert.is(visible(ref.faces), c.visible, `${label}: visible faces of the official model`);
  });
}

test.after(async () => {
  for (const d of detectors.values()) (await d).dispose();
});

test.run();
