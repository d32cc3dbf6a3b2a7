// Face tracks across the frames of a video: each face gets an `id` that stays with the same
// person while visible, and optionally smoothed boxes and landmarks.
//
//   const tracker = createTracker();
//   for each frame: const tracked = tracker.update(faces, timeInSeconds); // faces: Face[] of the frame
//
// The method is SORT's (Bewley et al., "Simple Online and Realtime Tracking", 2016) without the
// Kalman filter: every track predicts where its box is now from its last box and its velocity
// (constant motion, per frame); detections are associated with predictions by IoU, greedily,
// highest IoU first (as many trackers do for a handful of objects; the Hungarian algorithm only
// differs when several pairs compete at similar IoU); an unmatched detection starts a track with
// a new id (ids count up from 1 and are never reused); a track that finds no detection coasts on
// its prediction for up to `maxMissed` frames (a face occluded briefly, or missed by the
// detector, keeps its id), then ends. There is no appearance model: a face that leaves and comes
// back after its track has ended gets a new id.
//
// Smoothing (default on) is a One Euro filter per track (src/track/one_euro.ts) over the box and
// the landmarks; `smooth: false` returns the detections' own numbers. Association always uses
// the raw detections, so smoothing never changes which id a face gets.
//
// Pure TypeScript, no Node built-in: exported by the Node entry and the browser entry.
import type { Face, Point } from '../detect/postprocess.js';
import { OneEuroFilter, type OneEuroOptions } from './one_euro.js';

export interface TrackerOptions {
  /**
   * Minimum IoU between a track's predicted box and a detection to associate them. 0.3 is SORT's
   * value: a face moving a third of its width between frames still overlaps its prediction far
   * more, while two different faces side by side overlap little.
   */
  iouThreshold?: number;
  /** Frames a track survives without a detection (occlusion, a missed detection); then it ends. */
  maxMissed?: number;
  /** Smooth boxes and landmarks with a One Euro filter (true: the defaults of one_euro.ts), or not. */
  smooth?: boolean | OneEuroOptions;
  /** Frames per second assumed when update() is given no time: the time is frame / fps. */
  fps?: number;
}

export const DEFAULT_TRACKER_OPTIONS = { iouThreshold: 0.3, maxMissed: 5, smooth: true, fps: 30 } as const;

/**
 * A face of a frame with its track: the id, and the number of frames the track has been seen on
 * (`age`, 1 on the frame it starts). With smoothing, box and landmarks are the filtered ones and `raw` holds the
 * detection as given.
 */
export interface TrackedFace extends Face {
  id: number;
  age: number;
  raw: Face;
}

type Box = [number, number, number, number];

interface Track {
  id: number;
  /** the last detected box (raw) and the frame it was seen on */
  box: Box;
  frame: number;
  /** box change per frame (x1, y1, x2, y2), from the last two matches */
  velocity: Box;
  age: number;
  boxFilter: OneEuroFilter | null;
  landmarkFilter: OneEuroFilter | null;
}

export interface Tracker {
  /**
   * The faces of the next frame (those worth tracking, e.g. score >= 0.6), tracked: one
   * TrackedFace per face, in the same order. `time` (seconds) drives the smoothing; default
   * frame / fps.
   */
  update(faces: readonly Face[], time?: number): TrackedFace[];
  /** The tracks alive now (seen within maxMissed frames). */
  readonly activeTracks: number;
  /** Forgets every track (the next id still counts up). */
  reset(): void;
}

export function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * The weight of the newest frame-to-frame motion in a track's velocity (the rest is the previous
 * velocity): 0.5 follows a change of speed within two frames while halving the detector's
 * frame-to-frame box jitter in the prediction.
 */
const VELOCITY_BLEND = 0.5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function createTracker(options: TrackerOptions = {}): Tracker {
  const iouThreshold = options.iouThreshold ?? DEFAULT_TRACKER_OPTIONS.iouThreshold;
  const maxMissed = options.maxMissed ?? DEFAULT_TRACKER_OPTIONS.maxMissed;
  const fps = options.fps ?? DEFAULT_TRACKER_OPTIONS.fps;
  const smooth = options.smooth ?? DEFAULT_TRACKER_OPTIONS.smooth;
  const euro: OneEuroOptions | null = smooth === false ? null : smooth === true ? {} : smooth;
  if (!(iouThreshold > 0 && iouThreshold <= 1)) throw new RangeError(`createTracker: iouThreshold must be in (0, 1], got ${iouThreshold}`);
  if (!(Number.isInteger(maxMissed) && maxMissed >= 0)) throw new RangeError(`createTracker: maxMissed must be an integer >= 0, got ${maxMissed}`);
  if (!(fps > 0 && Number.isFinite(fps))) throw new RangeError(`createTracker: fps must be a positive number, got ${fps}`);
  if (euro !== null) new OneEuroFilter(1, euro); // validates the filter options now, not on the first face

  let tracks: Track[] = [];
  let frame = -1;
  let nextId = 1;

  function predict(t: Track): Box {
    const k = frame - t.frame;
    return t.box.map((v, i) => v + k * t.velocity[i]!) as Box;
  }

  function update(faces: readonly Face[], time?: number): TrackedFace[] {
    frame++;
    const now = time ?? frame / fps;
    const predicted = tracks.map(predict);

    // Every (track, detection) pair over the threshold, best first; ties keep input order.
    const pairs: [number, number, number][] = [];
    for (let ti = 0; ti < tracks.length; ti++) {
      for (let di = 0; di < faces.length; di++) {
        const o = iou(predicted[ti]!, faces[di]!.box);
        if (o >= iouThreshold) pairs.push([o, ti, di]);
      }
    }
    pairs.sort((a, b) => b[0] - a[0] || a[1] - b[1] || a[2] - b[2]);
    const trackOf = new Array<Track | undefined>(faces.length);
    const taken = new Set<number>();
    for (const [, ti, di] of pairs) {
      if (taken.has(ti) || trackOf[di] !== undefined) continue;
      taken.add(ti);
      trackOf[di] = tracks[ti]!;
    }

    // A new track's first guess of its motion: the median motion of the tracks matched in this
    // frame that have measured one (a camera pan moves every face alike), else none. With zero, a
    // small face moving fast falls out of its own prediction's IoU on its second frame, again and
    // again; with the scene's motion it is predicted where it goes.
    const moving = [...taken].map((ti) => tracks[ti]!).filter((t) => t.age >= 2);
    const prior: Box = moving.length === 0 ? [0, 0, 0, 0] : [0, 1, 2, 3].map((i) => median(moving.map((t) => t.velocity[i]!))) as Box;

    const out: TrackedFace[] = faces.map((face, di) => {
      let t = trackOf[di];
      const box = [...face.box] as Box;
      if (t === undefined) {
        t = { id: nextId++, box, frame, velocity: [...prior], age: 0, boxFilter: null, landmarkFilter: null };
        if (euro !== null) {
          t.boxFilter = new OneEuroFilter(4, euro);
          t.landmarkFilter = new OneEuroFilter(10, euro);
        }
        tracks.push(t);
      } else {
        const gap = frame - t.frame;
        t.velocity = t.velocity.map((v, i) => VELOCITY_BLEND * ((box[i]! - t!.box[i]!) / gap) + (1 - VELOCITY_BLEND) * v) as Box;
        // A track's first motion is taken whole: its velocity was a guess (the scene's), not a measurement.
        if (t.age === 1) t.velocity = box.map((v, i) => (v - t!.box[i]!) / gap) as Box;
        t.box = box;
        t.frame = frame;
      }
      t.age++;
      if (t.boxFilter === null || t.landmarkFilter === null) {
        return { ...face, box: [...face.box], landmarks: face.landmarks.map((p) => [p[0], p[1]]) as Face['landmarks'], id: t.id, age: t.age, raw: face };
      }
      const sb = t.boxFilter.filter(face.box, now) as Box;
      const sl = t.landmarkFilter.filter(face.landmarks.flat(), now);
      const landmarks = [0, 1, 2, 3, 4].map((i): Point => [sl[2 * i]!, sl[2 * i + 1]!]) as Face['landmarks'];
      return { score: face.score, box: sb, landmarks, id: t.id, age: t.age, raw: face };
    });

    tracks = tracks.filter((t) => frame - t.frame <= maxMissed);
    return out;
  }

  return {
    update,
    get activeTracks() {
      return tracks.length;
    },
    reset() {
      tracks = [];
      frame = -1;
    },
  };
}
