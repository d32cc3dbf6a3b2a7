// Drawing detections the way the reference's detect.py --save_image does, on an RGB copy:
//   cv2.rectangle(img, (x1, y1), (x2, y2), (0, 0, 255), 2)                    red box
//   cv2.putText(img, "{:.4f}".format(score), (x1, y1 + 12), FONT_HERSHEY_DUPLEX, 0.5, white)
//   cv2.circle(img, landmark_i, 1, colour_i, 4) for the 5 landmarks            coloured dots
// for each face with score >= vis_thres, coordinates truncated with Python's int().
// The box and the dots are pixel-exact with OpenCV 4.6 (its thickness-2 line is every pixel
// within distance 1 of the segment; circle(r = 1, thickness = 4) is the diamond |dx| + |dy| <= 3).
// The text is an approximation: a small built-in bitmap font of digits and '.' about the size of
// Hershey Duplex at scale 0.5 (10 px tall, baseline at y1 + 12), not OpenCV's vector glyphs.
import type { Face } from '../detect/postprocess.js';
import { DEFAULT_DETECT_OPTIONS } from '../detect/postprocess.js';
import type { TrackedFace } from '../track/tracker.js';
import type { RgbImage } from './image.js';

type Rgb = readonly [number, number, number];

export const BOX_COLOR: Rgb = [255, 0, 0]; // BGR (0, 0, 255)
export const TEXT_COLOR: Rgb = [255, 255, 255];
/** detect.py's landmark colours, BGR (0,0,255), (0,255,255), (255,0,255), (0,255,0), (255,0,0), as RGB. */
export const LANDMARK_COLORS: readonly Rgb[] = [[255, 0, 0], [255, 255, 0], [255, 0, 255], [0, 255, 0], [0, 0, 255]];

function setPixel(img: RgbImage, x: number, y: number, c: Rgb): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const i = 3 * (y * img.width + x);
  img.data[i] = c[0];
  img.data[i + 1] = c[1];
  img.data[i + 2] = c[2];
}

/** Every pixel within Euclidean distance `radius` of the segment (x0, y0)-(x1, y1). */
function thickSegment(img: RgbImage, x0: number, y0: number, x1: number, y1: number, radius: number, c: Rgb): void {
  const dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  const r = Math.ceil(radius);
  for (let y = Math.min(y0, y1) - r; y <= Math.max(y0, y1) + r; y++) {
    for (let x = Math.min(x0, x1) - r; x <= Math.max(x0, x1) + r; x++) {
      const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - x0) * dx + (y - y0) * dy) / len2));
      const ex = x - (x0 + t * dx), ey = y - (y0 + t * dy);
      if (ex * ex + ey * ey <= radius * radius) setPixel(img, x, y, c);
    }
  }
}

/** cv2.rectangle(..., thickness=2) for integer corners. */
export function drawRectangle(img: RgbImage, x1: number, y1: number, x2: number, y2: number, c: Rgb): void {
  thickSegment(img, x1, y1, x2, y1, 1, c);
  thickSegment(img, x2, y1, x2, y2, 1, c);
  thickSegment(img, x2, y2, x1, y2, 1, c);
  thickSegment(img, x1, y2, x1, y1, 1, c);
}

/** cv2.circle(img, (x, y), 1, c, 4): the diamond |dx| + |dy| <= 3. */
export function drawLandmarkDot(img: RgbImage, x: number, y: number, c: Rgb): void {
  for (let dy = -3; dy <= 3; dy++) {
    for (let dx = -3 + Math.abs(dy); dx <= 3 - Math.abs(dy); dx++) setPixel(img, x + dx, y + dy, c);
  }
}

// 6 x 10 glyphs, top row first; '#' is ink. Our own design, sized like Hershey Duplex at 0.5.
const GLYPHS: Record<string, readonly string[]> = {
  '0': ['.####.', '##..##', '#....#', '#....#', '#....#', '#....#', '#....#', '#....#', '##..##', '.####.'],
  '1': ['..##..', '.###..', '#.##..', '..##..', '..##..', '..##..', '..##..', '..##..', '..##..', '.####.'],
  '2': ['.####.', '##..##', '....##', '....##', '...##.', '..##..', '.##...', '##....', '##....', '######'],
  '3': ['.####.', '##..##', '....##', '....##', '..###.', '....##', '....##', '....##', '##..##', '.####.'],
  '4': ['....##', '...###', '..#.##', '.#..##', '#...##', '######', '....##', '....##', '....##', '....##'],
  '5': ['######', '##....', '##....', '#####.', '....##', '....##', '....##', '....##', '##..##', '.####.'],
  '6': ['..###.', '.##...', '##....', '##....', '#####.', '##..##', '##..##', '##..##', '##..##', '.####.'],
  '7': ['######', '....##', '....##', '...##.', '...##.', '..##..', '..##..', '.##...', '.##...', '.##...'],
  '8': ['.####.', '##..##', '##..##', '##..##', '.####.', '##..##', '##..##', '##..##', '##..##', '.####.'],
  '9': ['.####.', '##..##', '##..##', '##..##', '##..##', '.#####', '....##', '....##', '...##.', '.###..'],
  '.': ['..', '..', '..', '..', '..', '..', '..', '..', '##', '##'],
  '-': ['......', '......', '......', '......', '......', '######', '......', '......', '......', '......'],
};
const GLYPH_GAP = 3;
/** Hershey glyphs start a little right of the origin (their left bearing). */
const TEXT_LEFT_BEARING = 1;

/** Text with its baseline (bottom row of the glyphs) at y, starting at x, like cv2.putText's origin. */
export function drawText(img: RgbImage, text: string, x: number, y: number, c: Rgb): void {
  let pen = x + TEXT_LEFT_BEARING;
  for (const ch of text) {
    const g = GLYPHS[ch];
    if (g === undefined) throw new Error(`drawText: no glyph for ${JSON.stringify(ch)} (digits, '.' and '-' only)`);
    g.forEach((row, r) => {
      for (let col = 0; col < row.length; col++) if (row[col] === '#') setPixel(img, pen + col, y - (g.length - 1) + r, c);
    });
    pen += g[0]!.length + GLYPH_GAP;
  }
}

/**
 * A copy of `img` with the faces drawn as detect.py draws them (see the file header), in the
 * order given; faces with score < visThreshold are skipped (`if b[4] < args.vis_thres: continue`,
 * a float32 comparison). `top`: the image is rows [top, top + height) of a taller one, which the
 * faces' coordinates refer to (a band of a streamed image, drawn band by band with the same
 * pixels as the whole).
 */
export function drawDetections(img: RgbImage, faces: readonly Face[], visThreshold = DEFAULT_DETECT_OPTIONS.visThreshold, top = 0): RgbImage {
  const out: RgbImage = { width: img.width, height: img.height, data: img.data.slice() };
  const vis = Math.fround(visThreshold);
  for (const face of faces) {
    if (face.score < vis) continue;
    const text = face.score.toFixed(4);
    const [x1, y1, x2, y2] = face.box.map(Math.trunc) as [number, number, number, number]; // int(b)
    // what this face draws spans rows y1 - 1 .. y2 + 1 (box), y1 + 3 .. y1 + 12 (text) and the dots' +-3
    const ys = face.landmarks.map(([, y]) => Math.trunc(y));
    if (Math.max(y2 + 1, y1 + 12, ...ys.map((y) => y + 3)) < top || Math.min(y1 - 1, ...ys.map((y) => y - 3)) >= top + img.height) continue;
    drawRectangle(out, x1, y1 - top, x2, y2 - top, BOX_COLOR);
    drawText(out, text, x1, y1 + 12 - top, TEXT_COLOR);
    face.landmarks.forEach(([x], i) => drawLandmarkDot(out, Math.trunc(x), ys[i]! - top, LANDMARK_COLORS[i]!));
  }
  return out;
}

/**
 * Box colours of face tracks, picked by id (id 1 the first, cycling): eight hues far enough apart
 * to tell neighbouring tracks apart in a crowd; the detect.py red comes first.
 */
export const TRACK_COLORS: readonly Rgb[] = [
  [255, 0, 0], [0, 160, 255], [0, 220, 0], [255, 200, 0], [200, 64, 255], [0, 220, 220], [255, 128, 0], [255, 96, 192],
];

/** Black text on the bright colours, white on the dark ones (Rec. 601 luma). */
function labelTextColor(c: Rgb): Rgb {
  return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 140 ? [0, 0, 0] : [255, 255, 255];
}

function fillRect(img: RgbImage, x1: number, y1: number, x2: number, y2: number, c: Rgb): void {
  for (let y = y1; y <= y2; y++) for (let x = x1; x <= x2; x++) setPixel(img, x, y, c);
}

/** Width in pixels of drawText's ink: the glyphs and the gaps between them. */
function inkWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += (GLYPHS[ch]?.[0]?.length ?? 0) + GLYPH_GAP;
  return w - GLYPH_GAP;
}

/**
 * A copy of `img` with tracked faces (createTracker's output) drawn: the box in its track's
 * colour (TRACK_COLORS by id), the id on a label of that colour just above the box's top-left
 * corner (inside the box when there is no room above), and the five landmark dots as
 * drawDetections draws them. No score: a video's faces are often small, and the number would
 * cover them (the JSON has it). Every face given is drawn: filtering is the caller's (the
 * tracker is given the visible faces).
 */
export function drawTrackedFaces(img: RgbImage, faces: readonly TrackedFace[]): RgbImage {
  const out: RgbImage = { width: img.width, height: img.height, data: img.data.slice() };
  const GLYPH_HEIGHT = 10, PAD = 2;
  for (const face of faces) {
    const color = TRACK_COLORS[(face.id - 1) % TRACK_COLORS.length]!;
    const [x1, y1, x2, y2] = face.box.map(Math.trunc) as [number, number, number, number];
    drawRectangle(out, x1, y1, x2, y2, color);
    const text = String(face.id);
    // The label's left edge is the box line's outer edge (the line is 3 px wide, centred on x1).
    const left = x1 - 1, labelHeight = GLYPH_HEIGHT + 2 * PAD;
    const top = y1 - 1 - labelHeight >= 0 ? y1 - 1 - labelHeight : y1 + 2;
    fillRect(out, left, top, left + inkWidth(text) + 2 * PAD - 1, top + labelHeight - 1, color);
    drawText(out, text, left + PAD - TEXT_LEFT_BEARING, top + PAD + GLYPH_HEIGHT - 1, labelTextColor(color));
    face.landmarks.forEach(([x, y], i) => drawLandmarkDot(out, Math.trunc(x), Math.trunc(y), LANDMARK_COLORS[i]!));
  }
  return out;
}
