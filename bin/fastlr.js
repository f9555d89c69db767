#!/usr/bin/env node
// Tiny launcher: run the compiled CLI (npm run build produces dist/).
import { main } from '../dist/cli.js';

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`fastlr: unexpected error: ${err?.stack ?? err}\n`); process.exitCode = 1; },
);
