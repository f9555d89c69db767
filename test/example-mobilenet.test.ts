// The README's MobileNetV2 example pair (configs/mobilenet-finetune.yaml, configs/mobilenet-scratch.yaml): after the
// two preparation commands the README gives, run in a fresh folder, both configs pass `fastlr check` unchanged, and
// they are a fair comparison: the same images, graph, head, seed, batch size and epoch budget; only the weights differ.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from './helpers/cli.js';

const FT = resolve(ROOT, 'configs/mobilenet-finetune.yaml');
const SC = resolve(ROOT, 'configs/mobilenet-scratch.yaml');

interface Cfg {
  seed: number;
  data: { images: { path: string; size: number[]; channels: number; scale: number[] }; batch_size: number };
  model: { from: string; cut: string; head: unknown[]; reinit?: boolean };
  fit?: { epochs: number };
  finetune?: { freeze_epochs: number; epochs: number };
}

describe('configs/mobilenet-*.yaml (the README example pair)', () => {
  it('pass fastlr check as written after the README preparation, and compare like with like', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'fastlr-mnv2-'));
    const ft = parse(readFileSync(FT, 'utf8')) as Cfg;
    const sc = parse(readFileSync(SC, 'utf8')) as Cfg;
    // the preparation, with the paths the configs use (fewer images: check reads headers, not pixels)
    execFileSync(process.execPath, [resolve(ROOT, 'scripts/import-nsfwjs.mjs'), ft.model.from], { cwd, stdio: 'pipe' });
    const exp = await runCli(['export-digits', ft.data.images.path, '--digits', '5,6,7,8,9', '--per-class', '2', '--valid-per-class', '1', '--size', '224', '--channels', '3', '--quiet'], { cwd });
    expect(exp.code, exp.stderr).toBe(0);

    const checked = await Promise.all([FT, SC].map((f) => runCli(['check', f, '--json'], { cwd })));
    for (const c of checked) expect(c.code, c.stderr).toBe(0);
    const [dft, dsc] = checked.map((c) => JSON.parse(c.stdout) as { ok: boolean; plan: Cfg });
    expect(dft!.ok && dsc!.ok).toBe(true);
    // the pretrained body cut at out_relu with the new head; the baseline is the same graph, fresh weights
    expect(ft.model.cut).toBe('out_relu');
    expect(dft!.plan.model.reinit).toBe(false);
    expect(dsc!.plan.model.reinit).toBe(true);
    expect(JSON.stringify(dsc!.plan.model.head)).toBe(JSON.stringify(dft!.plan.model.head));
    expect(dsc!.plan.model.head).toHaveLength(2);
    for (const k of ['from', 'cut'] as const) expect(dsc!.plan.model[k]).toBe(dft!.plan.model[k]);
    // same images, preprocessing, seed and batch size; the same number of epochs (frozen + unfrozen = fit)
    expect(dsc!.plan.data).toEqual(dft!.plan.data);
    expect(dft!.plan.data.images).toMatchObject({ size: [224, 224], channels: 3, scale: [0, 1] });
    expect(dsc!.plan.seed).toBe(dft!.plan.seed);
    expect(sc.fit!.epochs).toBe(ft.finetune!.freeze_epochs + ft.finetune!.epochs);

    // the human check of the pair shows the graph found by name: the body ends at out_relu, then the head
    const human = await runCli(['check', FT], { cwd });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/group 0 \(body\)[^\n]*frozen in finetune stage 1\n\s+Conv1_pad … out_relu \(154 layers\)\n/);
    expect(human.stdout).toMatch(/group 1 \(head\)[^\n]*\n\s+\S*global_avgpool, \S*dense\n/);
  }, 120_000);
});
