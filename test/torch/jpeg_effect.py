#!/usr/bin/python3
"""What the JPEG decoder does to the detections: our detector on jpeg-js's pixels (src/image/decode.ts,
what `retinaface detect photo.jpg` sees) against our detector on libjpeg-turbo's pixels (PIL, the
same library and settings as the reference's cv2.imread), handed over as a PNG that PIL writes.
The network and post-processing are the same on both sides (test/detect_parity.test.ts shows they
match PyTorch's to 1e-3 px), so every difference here is the decoder's.

Usage (after `npx tsc -p .`):
  /usr/bin/python3 test/torch/jpeg_effect.py [--weights mobilenet0.25_Final.pth] [--arch mobile0.25] IMAGE.jpg [...]
Default weights: $RETINAFACE_WEIGHTS_DIR/mobilenet0.25_Final.pth, else ../shared/weights beside the
checkout. The PNGs go to .cache/jpeg_effect/ (git-ignored).

Prints per image: faces with score >= 0.6 (detect.py --vis_thres) each way; for the faces visible on
either side, matched by IoU >= 0.5 to the other side's full list (score > 0.02), the worst box,
landmark and score differences; faces that cross 0.6; faces with no counterpart at all.
"""
import argparse
import json
import os
import subprocess
import sys

from PIL import Image, ImageOps

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VIS_THRES = 0.6  # detect.py --vis_thres
MATCH_IOU = 0.5  # the usual "same object" criterion; decoder noise moves boxes by about a pixel

# Runs our detector on each file argument and writes one JSON list of faces per file.
NODE_DETECT = """
import { RetinaFace } from %s;
const [arch, weights, ...files] = process.argv.slice(1);
const detector = await RetinaFace.load({ arch, weights, backend: 'cpu' });
const out = [];
for (const f of files) out.push(await detector.detect(f));
detector.dispose();
process.stdout.write(JSON.stringify(out));
"""


def detect_ts(arch, weights, files):
    module = json.dumps('file://' + os.path.join(REPO, 'dist', 'src', 'index.js'))
    out = subprocess.run(['node', '--input-type=module', '-e', NODE_DETECT % module, arch, weights, *files],
                         check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)


def iou(a, b):
    """Plain IoU of two [x1, y1, x2, y2] boxes in continuous pixels."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area = lambda f: (f[2] - f[0]) * (f[3] - f[1])
    return inter / (area(a) + area(b) - inter)


def best_match(face, others):
    scored = [(iou(face['box'], o['box']), k) for k, o in enumerate(others)]
    best = max(scored, default=(0.0, -1))
    return best[1] if best[0] >= MATCH_IOU else -1


def compare(name, js, pil):
    vis_js = [f for f in js if f['score'] >= VIS_THRES]
    vis_pil = [f for f in pil if f['score'] >= VIS_THRES]
    worst = {'box': 0.0, 'width': 0.0, 'landmark': 0.0, 'score': 0.0}
    crossing, alone = [], []
    seen = set()
    # every face visible on either side, against the other side's full list
    for side, faces, others in (('jpeg-js', vis_js, pil), ('PIL', vis_pil, js)):
        for f in faces:
            k = best_match(f, others)
            if k < 0:
                alone.append(f'{side} only: score {f["score"]:.4f} box {[round(v, 1) for v in f["box"]]}')
                continue
            o = others[k]
            a, b = (f, o) if side == 'jpeg-js' else (o, f)
            key = (tuple(a['box']), tuple(b['box']))
            if key in seen:
                continue
            seen.add(key)
            box = max(abs(x - y) for x, y in zip(a['box'], b['box']))
            if box >= worst['box']:
                worst['box'], worst['width'] = box, b['box'][2] - b['box'][0]
            worst['landmark'] = max(worst['landmark'], *(abs(p[i] - q[i]) for p, q in zip(a['landmarks'], b['landmarks']) for i in (0, 1)))
            worst['score'] = max(worst['score'], abs(a['score'] - b['score']))
            if (a['score'] >= VIS_THRES) != (b['score'] >= VIS_THRES):
                crossing.append(f'score {a["score"]:.4f} (jpeg-js) vs {b["score"]:.4f} (PIL)')
    print(f'{name}: {len(vis_js)} faces >= {VIS_THRES} on jpeg-js pixels, {len(vis_pil)} on PIL pixels '
          f'({len(js)} / {len(pil)} faces > 0.02); {len(seen)} matched: worst |box| {worst["box"]:.3f} px (on a {worst["width"]:.0f} px wide face), '
          f'|landmark| {worst["landmark"]:.3f} px, |score| {worst["score"]:.4f}; '
          f'{len(crossing)} cross {VIS_THRES}, {len(alone)} with no counterpart')
    for line in crossing + alone:
        print('  ' + line)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='mobile0.25')
    weights_dir = os.environ.get('RETINAFACE_WEIGHTS_DIR') or os.path.join(os.path.dirname(REPO), 'shared', 'weights')
    p.add_argument('--weights', default=os.path.join(weights_dir, 'mobilenet0.25_Final.pth'))
    p.add_argument('images', nargs='+')
    args = p.parse_args()
    out_dir = os.path.join(REPO, '.cache', 'jpeg_effect')
    os.makedirs(out_dir, exist_ok=True)
    pngs = []
    for path in args.images:
        png = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + '.png')
        with Image.open(path) as im:
            # upright as cv2.imread and decode.ts return it; libjpeg-turbo's pixels, losslessly
            ImageOps.exif_transpose(im).convert('RGB').save(png)
        pngs.append(png)
    faces = detect_ts(args.arch, args.weights, list(args.images) + pngs)
    n = len(args.images)
    for path, js, pil in zip(args.images, faces[:n], faces[n:]):
        compare(os.path.basename(path), js, pil)


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main()
