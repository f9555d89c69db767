/**
 * A one-line "decoding images" counter on stderr while an image folder loads, only on a terminal (never in CI or
 * when stderr is a pipe or file), redrawn at most every 100 ms and erased when done.
 */
export function decodeProgress(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): ((done: number, total: number) => void) | undefined {
  const ci = env.CI;
  if (!stream.isTTY || (ci && ci !== 'false' && ci !== '0')) return undefined;
  let last = 0;
  let shown = false;
  return (done, total) => {
    const now = Date.now();
    if (done >= total) {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
      return;
    }
    if (now - last < 100) return;
    last = now;
    shown = true;
    const f = (v: number): string => v.toLocaleString('en-US');
    stream.write(`\r\x1b[Kdecoding images: ${f(done)}/${f(total)} (${Math.floor((100 * done) / total)}%)`);
  };
}
