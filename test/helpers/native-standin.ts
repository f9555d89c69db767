// A scratch copy of the built CLI whose node_modules holds stand-ins for @tensorflow/tfjs-node(-gpu): packages
// whose main registers tfjs's stock cpu backend (and copies of its kernels) under the name `tensorflow`, as the
// real ones register libtensorflow's. The rest of node_modules is the repo's, by symlink. The native packages
// cannot be installed here (their install downloads libtensorflow); their JS-side path is what this exercises.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './cli.js';

export type NativePackage = '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';

export interface StandIn {
  name: NativePackage;
  /** what the stand-in's backend reports as NodeJSKernelBackend.isUsingGpuDevice */
  gpu?: boolean;
  /** throw this (after registering the backend and every kernel), as a binding that cannot load its .so does */
  throws?: string;
}

function mainSource(s: StandIn): string {
  return `'use strict';
// stand-in for ${s.name}: tfjs's stock cpu backend and kernels, registered as 'tensorflow'
const tf = require('@tensorflow/tfjs');
const { MathBackendCPU } = require('@tensorflow/tfjs-backend-cpu');
process.stderr.write('stand-in ${s.name}: NVIDIA_TF32_OVERRIDE=' + process.env.NVIDIA_TF32_OVERRIDE + '\\n');
class NodeJSKernelBackend extends MathBackendCPU {
  constructor() {
    super();
    this.firstUse = false;
    this.isGPUPackage = ${s.name === '@tensorflow/tfjs-node-gpu'};
    this.isUsingGpuDevice = ${s.gpu === true};
  }
}
tf.registerBackend('tensorflow', () => new NodeJSKernelBackend(), 3);
for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: 'tensorflow' });
${s.throws ? `throw new Error(${JSON.stringify(s.throws)});` : ''}
`;
}

/** Build the scratch app; returns the path of its bin/fastlr.js (run it with node, as runCli does). */
export function standInApp(standIns: StandIn[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastlr-standin-'));
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  const nm = join(dir, 'node_modules');
  mkdirSync(join(nm, '@tensorflow'), { recursive: true });
  for (const e of readdirSync(join(ROOT, 'node_modules'))) {
    if (e === '@tensorflow' || e === '.bin') continue;
    symlinkSync(join(ROOT, 'node_modules', e), join(nm, e));
  }
  for (const e of readdirSync(join(ROOT, 'node_modules', '@tensorflow'))) {
    if (e === 'tfjs-node' || e === 'tfjs-node-gpu') continue;
    symlinkSync(join(ROOT, 'node_modules', '@tensorflow', e), join(nm, '@tensorflow', e));
  }
  for (const s of standIns) {
    const pkg = join(nm, s.name);
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: s.name, version: '4.22.0', main: 'index.js' }));
    writeFileSync(join(pkg, 'index.js'), mainSource(s));
  }
  return join(dir, 'bin', 'fastlr.js');
}
