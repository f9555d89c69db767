#!/usr/bin/env node
// Tiny launcher: run the compiled CLI (npm run build produces dist/).
import { main } from '../dist/cli.js';

// `fastlr check cfg.yaml | head`: a reader that goes away is not an error.
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`fastlr: unexpected error: ${err?.stack ?? err}\n`); process.exitCode = 1; },
);
