// What bench/browser_proxy.ts (Node) sends to bench/browser/proxy_page.ts (Chromium): a
// conv unit (convolution, batch norm, activation) at prepare time, then the forward pass as a list of commands on
// integer tensor handles, flushed at each read. Arrays are base64 of their float32 bytes.
import type { ConvSpec } from '../src/harness/cases.js';
export type ProxyCommand =
  | { t: 'upload'; id: number; shape: number[]; b64: string }
  | { t: 'release'; x: number }
  | { t: 'conv'; id: number; x: number; conv: number }
  | { t: 'add'; id: number; a: number; b: number; slope: number | null }
  | { t: 'interp'; id: number; x: number; h: number; w: number }
  | { t: 'cat'; id: number; xs: number[]; slope: number | null }
  | { t: 'pool'; id: number; x: number; k: number; s: number; p: number }
  | { t: 'head'; id: number; x: number; k: number }
  | { t: 'rows'; id: number; xs: number[] }
  | { t: 'softmax'; id: number; x: number };

/** A conv as the page rebuilds it: its geometry (the harness's ConvSpec) and the names of its tensors in the weights file. */
export interface ProxyConv extends Pick<ConvSpec, 'cIn' | 'cOut' | 'kernel' | 'stride' | 'padding' | 'groups'> {
  path: string;
  weight: string;
  bias: string | null;
  bn: { weight: string; bias: string; mean: string; var: string } | null;
  slope: number | null;
}
