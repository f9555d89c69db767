import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function versionOf(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** fastlr's own version (from its package.json), and the versions recorded for provenance. */
export const FASTLR_VERSION: string = (require('../package.json') as { version: string }).version;

export function versions(): { fastlr: string; tfjs: string; node: string } {
  return { fastlr: FASTLR_VERSION, tfjs: versionOf('@tensorflow/tfjs-core'), node: process.versions.node };
}
