// `retinaface summary`: the per-level table, module shapes, strides, receptive fields and MACs,
// traced through the one forward definition by the ShapeBackend. The receptive fields are checked
// against hand computation, the anchors against the prior box count, and docs/architecture.md
// against the command's own output (so the doc cannot drift from the code).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { priorCount } from '../src/detect/priors.js';
import { summarize, summaryMarkdown } from '../src/model/summary.js';
import { repoRoot } from './helpers/paths.js';

/**
 * By hand. A k x k convolution (or pool) of stride s takes (rf, jump) to (rf + (k - 1) jump, s jump).
 * mobile0.25: conv_bn 3x3/2 gives (3, 2); the conv_dw blocks add 2 jump each (their 1x1 adds
 * nothing) and multiply the jump by their stride: stage1 ends at (43, 8), stage2 at (219, 16),
 * stage3 at 219 + 32 = 251 then 251 + 64 = 315, jump 32.
 * resnet50: conv1 7x7/2 (7, 2), maxpool 3x3/2 (11, 4); each bottleneck adds 2 jump through its
 * 3x3, which carries the stride (v1.5): layer1 3 blocks (35, 4), layer2 43 then +16 x3 (91, 8),
 * layer3 107 then +32 x5 (267, 16), layer4 299 then +64 x2 (427, 32).
 * FPN: output_k is 1x1; merge2 = 3x3 at jump 16 over output2 + upsampled output3, the larger
 * field: max(rf(stage2), rf(stage3)) + 32; merge1 = 3x3 at jump 8 over output1 + upsampled merge2:
 * rf(merge2) + 16. SSH: its widest branch is three 3x3 (conv5X5_1, conv7X7_2, conv7x7_3): + 6 jump.
 */
const HAND = {
  'mobile0.25': { backbone: ['body.stage3', 315], merge2: 315 + 32, merge1: 315 + 32 + 16 },
  resnet50: { backbone: ['body.layer4', 427], merge2: 427 + 32, merge1: 427 + 32 + 16 },
} as const;

for (const arch of ['mobile0.25', 'resnet50'] as const) {
  test(`${arch} at 640x640: receptive fields and strides as computed by hand; anchors per level sum to the prior count`, async () => {
    const s = await summarize(arch, 640, 640);
    const h = HAND[arch];
    const g = (p: string) => s.geometry.get(p)!;
    assert.equal(g(h.backbone[0]), { rf: h.backbone[1], jump: 32 });
    assert.equal(g('fpn.merge2'), { rf: h.merge2, jump: 16 });
    assert.equal(g('fpn.merge1'), { rf: h.merge1, jump: 8 });
    assert.equal(s.levels.map((l) => [l.path, l.stride, l.height, l.width, l.anchors, l.receptiveField]), [
      ['ssh1', 8, 80, 80, 12800, h.merge1 + 6 * 8],
      ['ssh2', 16, 40, 40, 3200, h.merge2 + 6 * 16],
      ['ssh3', 32, 20, 20, 800, h.backbone[1] + 6 * 32],
    ]);
    assert.is(s.levels.reduce((n, l) => n + l.anchors, 0), priorCount(640, 640));
    assert.is(s.anchors, 16800);
  });
}

test('odd sizes: the levels are ceil-divided maps and their anchors still sum to the prior count', async () => {
  const s = await summarize('mobile0.25', 333, 517);
  assert.equal(s.levels.map((l) => [l.height, l.width]), [[42, 65], [21, 33], [11, 17]]);
  assert.is(s.levels.reduce((n, l) => n + l.anchors, 0), priorCount(333, 517));
  assert.is(s.anchors, priorCount(333, 517));
});

test('docs/architecture.md quotes `retinaface summary` for both archs at 640x640, verbatim', async () => {
  const doc = readFileSync(path.join(repoRoot, 'docs', 'architecture.md'), 'utf8');
  for (const arch of ['mobile0.25', 'resnet50'] as const) {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'src', 'cli.js'), 'summary', '--arch', arch, '--size', '640x640'], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout.trimEnd(), summaryMarkdown(await summarize(arch, 640, 640)), 'the command prints summaryMarkdown');
    assert.ok(doc.includes(r.stdout.trimEnd()), `docs/architecture.md does not contain the output of \`retinaface summary --arch ${arch}\`: regenerate it`);
  }
});

test.run();
