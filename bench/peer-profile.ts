// Ours against onnxruntime-node, module by module (issue #16: where the forward's ratio comes
// from). One process holds both, on the benchmark's seeded network (bench/e2e.ts prepareArch: the
// ONNX export needs PyTorch, cached in .cache/bench), as bench/peer-ab.ts does. Passes alternate,
// SETTLE_MS before each. Ours: each module's time from the forward's module reports
// (src/model/anatomy.ts, as bench/profile.ts's first table). onnxruntime-node: its own profiler
// (session option enableProfiling), each node's kernel time, a node counted to the PyTorch module
// its ONNX name comes from (moduleOfNode). Both are medians over --passes, module by module.
// Rows where one side runs several modules as one are merged (an SSH's two convolutions of one
// input, a level's three heads: ours computes them together and reports them on one module).
//   node dist/bench/peer-profile.js [--arch mobile0.25] [--size 640x640] [--threads 1] [--passes 15] [--json FILE]
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CpuSimdBackend } from '../src/backends/cpu_simd.js';
import { anatomy, attribute, stamper } from '../src/model/anatomy.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';
import { SEED, SETTLE_MS } from './config.js';
import { prepareArch } from './e2e.js';
import { openOnnxNode, runOnnxNode } from './peers/onnx_node.js';
import { repoRoot } from './peers/torch.js';
import { archAndSize, option } from './profile_options.js';
import { median } from './stats.js';


/**
 * The PyTorch module an ONNX node of bench/torch/export_onnx.py's export belongs to, from its name
 * (torch.onnx names a node by its module's scope: `/body/stage1/stage1.1/stage1.1.2/LeakyRelu`,
 * `/fpn/merge1/merge1.2/...`, `/ssh1/conv3X3/...`, `/ClassHead.0/conv1x1/...`). The outputs' cats
 * and the softmax carry no scope: they go to the rows ours reports them on (loc, conf, landms);
 * onnxruntime's NCHWc layout conversions (ReorderInput, ReorderOutput) to a row of their own.
 */
export function moduleOfNode(name: string): string {
  const parts = name.split('/').filter((p) => p !== '');
  const head = parts[0] ?? name;
  if (/^Reorder(Input|Output)/.test(head)) return 'layout reorders (onnxruntime)';
  if (parts.length === 1) return ({ Concat: 'loc', Concat_1: 'conf', Softmax: 'conf', Concat_2: 'landms' } as Record<string, string>)[head] ?? head;
  if (head === 'body') {
    // mobile0.25: /body/stage1/stage1.1/...; resnet50: /body/layer1/layer1.0/... and the stem's /body/conv1/...
    const [, group, block] = parts;
    return block !== undefined && block.startsWith(`${group}.`) ? `body.${block}` : `body.${group}`;
  }
  if ((head === 'fpn' || /^ssh\d$/.test(head)) && parts.length > 2) return `${head}.${parts[1]}`;
  return head;
}

/** The row a module is shown on: an SSH's convolutions of one input together, a level's three heads together. */
export function rowOf(module: string): string {
  const ssh = /^(ssh\d)\.(conv3X3|conv5X5_1|conv5X5_2|conv7X7_2)$/.exec(module);
  if (ssh !== null) return /conv3X3|conv5X5_1/.test(ssh[2]!) ? `${ssh[1]}.conv3X3 + conv5X5_1` : `${ssh[1]}.conv5X5_2 + conv7X7_2`;
  const head = /^(ClassHead|BboxHead|LandmarkHead)\.(\d)$/.exec(module);
  if (head !== null) return `heads.${head[2]} (Class, Bbox, Landmark)`;
  return module;
}

/**
 * What kind of work a row is, from our ops of its module (anatomy's op kinds), for the subtotals;
 * the rows only onnxruntime has: its FPN upsampling and add (ours are inside fpn.merge1/2), its
 * layout reorders.
 */
export function kindOf(row: string, ops: string): string {
  if (row === 'fpn') return '3x3 convolutions, stride 1 (FPN merges with their upsampling and add, SSH)';
  if (row.startsWith('layout reorders')) return 'layout reorders (onnxruntime\'s NCHWc)';
  if (ops.includes('stem')) return 'stem';
  if (ops.includes('maxpool')) return 'max pool';
  if (ops.includes('depthwise')) return 'depthwise-separable blocks (depthwise 3x3, pointwise 1x1)';
  if (ops.includes('dense 3x3/2')) return 'Bottlenecks of stride 2 (1x1, strided 3x3, 1x1, strided 1x1 downsample)';
  if (ops.includes('dense 3x3/1') && ops.includes('pointwise')) return 'Bottlenecks (1x1, 3x3, 1x1)';
  if (ops.includes('dense 3x3/1')) return '3x3 convolutions, stride 1 (FPN merges with their upsampling and add, SSH)';
  if (ops.includes('head 1x1')) return 'heads (1x1, permute)';
  if (ops.includes('pointwise 1x1')) return '1x1 convolutions (FPN outputs)';
  return 'cats, softmax';
}

/** Each node's kernel time per run of onnxruntime's profile (`*_kernel_time` events inside each `model_run`), ms. */
export function nodeTimesByRun(events: readonly { cat?: string; name: string; ts: number; dur: number }[]): Map<string, number>[] {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const out = runs.map(() => new Map<string, number>());
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const i = runs.findIndex((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
    if (i < 0) continue;
    const node = e.name.slice(0, -'_kernel_time'.length);
    out[i]!.set(node, (out[i]!.get(node) ?? 0) + e.dur / 1000);
  }
  return out;
}

async function main(): Promise<void> {
  const { arch, width, height } = archAndSize('mobile0.25');
  const threads = Number(option('threads', '1'));
  const passes = Number(option('passes', '15'));
  const jsonFile = option('json', '');
  const prep = await prepareArch(arch, path.join(repoRoot, '.cache', 'bench'), (s) => console.error(s));
  if (prep.onnx === undefined) throw new Error(`no ONNX model to compare with: ${prep.onnxSkipped}`);
  const model = buildRetinaFace(arch);
  fillRandomWeights(model, SEED, true); // the weights prepareArch wrote and exported
  const ours = new CpuSimdBackend({ threads });
  await ours.prepare(model);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'retinaface-peer-profile-'));
  const peer = await openOnnxNode(prep.onnx, threads, { enableProfiling: true, profileFilePrefix: path.join(dir, 'ort') });
  const x = syntheticInput(height, width, SEED + width);
  const shape = await anatomy(model, height, width);

  const oursOwn = new Map<string, number[]>(), oursForward: number[] = [], peerForward: number[] = [];
  const passOurs = async () => {
    const s = stamper(() => performance.now(), false);
    await runNetwork(ours, model, x, s.selection);
    oursForward.push(performance.now() - s.start);
    for (const [p, a] of attribute(s.stamps, s.start)) (oursOwn.get(p) ?? oursOwn.set(p, []).get(p)!).push(a.own);
  };
  const passPeer = async () => {
    const t0 = performance.now();
    await runOnnxNode(peer, x);
    peerForward.push(performance.now() - t0);
  };
  const warm = 2;
  for (let i = 0; i < warm; i++) { await passOurs(); await passPeer(); }
  oursOwn.clear(); oursForward.length = 0; peerForward.length = 0;
  for (let i = 0; i < passes; i++) {
    for (const pass of i % 2 === 0 ? [passOurs, passPeer] : [passPeer, passOurs]) {
      await sleep(SETTLE_MS);
      await pass();
    }
  }
  peer.session.endProfiling?.();
  await peer.session.release?.();
  ours.dispose();
  const file = readdirSync(dir).find((f) => f.endsWith('.json'));
  if (file === undefined) throw new Error(`onnxruntime-node wrote no profile into ${dir}`);
  const runs = nodeTimesByRun(JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { cat?: string; name: string; ts: number; dur: number }[]).slice(warm);
  rmSync(dir, { recursive: true, force: true });
  if (runs.length !== passes) throw new Error(`onnxruntime-node's profile has ${runs.length + warm} runs, expected ${passes + warm}`);

  // Rows in our forward order (the leaves that own ops), then what only the peer has.
  const rows = new Map<string, { ours: number[]; peer: number[]; macs: number; ops: string }>();
  const row = (name: string) => rows.get(name) ?? rows.set(name, { ours: Array(passes).fill(0), peer: Array(passes).fill(0), macs: 0, ops: '' }).get(name)!;
  for (const mod of shape.modules) {
    const mine = mod.ops.filter((o) => !shape.modules.some((c) => c.parent === mod.path && c.ops.includes(o)));
    if (mine.length === 0) continue;
    const r = row(rowOf(mod.path));
    r.macs += mine.reduce((a, o) => a + o.macs, 0);
    r.ops ||= mine.map((o) => (o.op === 'conv' ? o.kind! : o.op)).join(', ');
    (oursOwn.get(mod.path) ?? []).forEach((ms, i) => { r.ours[i] += ms; });
  }
  runs.forEach((nodes, i) => { for (const [node, ms] of nodes) row(rowOf(moduleOfNode(node))).peer[i] += ms; });
  const table = [...rows].map(([name, r]) => ({ name, kind: kindOf(name, r.ops), macs: r.macs, ours: median(r.ours), peer: median(r.peer) }));
  const sumOurs = table.reduce((a, r) => a + r.ours, 0), sumPeer = table.reduce((a, r) => a + r.peer, 0);
  const gf = (macs: number, ms: number) => (macs > 0 && ms > 0 ? ((2 * macs) / (ms * 1e6)).toFixed(1) : '');
  const fmtRatio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : '');
  console.log(`${arch} ${width}x${height}, ${threads} thread(s), ${passes} passes each, alternating, ${SETTLE_MS} ms before each: ` +
    `forward cpu-simd ${median(oursForward).toFixed(1)} ms (module reports on), onnxruntime-node ${median(peerForward).toFixed(1)} ms (its profiler on); ` +
    `the rows add up to ${sumOurs.toFixed(1)} and ${sumPeer.toFixed(1)} ms`);
  console.log('\n| module | MMAC | cpu-simd ms | onnxruntime-node ms | ours / peer | ours - peer ms | cpu-simd GFLOP/s | onnxruntime-node GFLOP/s |\n|---|---|---|---|---|---|---|---|');
  for (const r of table) {
    console.log(`| \`${r.name}\` | ${(r.macs / 1e6).toFixed(1)} | ${r.ours.toFixed(3)} | ${r.peer.toFixed(3)} | ${fmtRatio(r.ours, r.peer)} | ${(r.ours - r.peer).toFixed(3)} | ${gf(r.macs, r.ours)} | ${gf(r.macs, r.peer)} |`);
  }
  const kinds = new Map<string, { macs: number; ours: number; peer: number }>();
  for (const r of table) {
    const k = kinds.get(r.kind) ?? kinds.set(r.kind, { macs: 0, ours: 0, peer: 0 }).get(r.kind)!;
    k.macs += r.macs; k.ours += r.ours; k.peer += r.peer;
  }
  console.log(`| **all rows** | ${(table.reduce((a, r) => a + r.macs, 0) / 1e6).toFixed(1)} | ${sumOurs.toFixed(2)} | ${sumPeer.toFixed(2)} | ${fmtRatio(sumOurs, sumPeer)} | ${(sumOurs - sumPeer).toFixed(2)} | | |`);
  console.log('\nBy kind (the rows above, summed):\n\n| kind | MMAC | cpu-simd ms | onnxruntime-node ms | ours / peer | ours - peer ms | share of the difference |\n|---|---|---|---|---|---|---|');
  for (const [kind, k] of kinds) {
    console.log(`| ${kind} | ${(k.macs / 1e6).toFixed(1)} | ${k.ours.toFixed(2)} | ${k.peer.toFixed(2)} | ${fmtRatio(k.ours, k.peer)} | ${(k.ours - k.peer).toFixed(2)} | ${((100 * (k.ours - k.peer)) / (sumOurs - sumPeer)).toFixed(0)} % |`);
  }
  if (jsonFile !== '') {
    writeFileSync(jsonFile, `${JSON.stringify({ arch, width, height, threads, passes, forwardMs: { ours: median(oursForward), peer: median(peerForward) }, rows: table, kinds: Object.fromEntries(kinds) }, null, 1)}\n`);
    console.log(`wrote ${jsonFile}`);
  }
}

if (process.argv[1] !== undefined && process.argv[1].endsWith(`${path.sep}peer-profile.js`)) {
  main().then(() => process.exit(0), (e: unknown) => {
    console.error(`bench/peer-profile: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
