// The command-line options bench/profile.ts and bench/cpu-profile.ts share: `--name value` pairs,
// the network (--arch) and the input size (--size WxH).
import { isArch, type Arch } from '../src/model/config.js';

/** The value after --name on the command line, else the fallback. */
export function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** --arch and --size, checked. */
export function archAndSize(defaultArch: Arch): { arch: Arch; width: number; height: number } {
  const arch = option('arch', defaultArch);
  if (!isArch(arch)) throw new Error(`--arch ${arch}: mobile0.25 or resnet50`);
  const m = /^(\d+)x(\d+)$/.exec(option('size', '640x640'));
  if (m === null) throw new Error('--size WxH');
  return { arch, width: Number(m[1]), height: Number(m[2]) };
}
