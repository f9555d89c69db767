/**
 * The run-folder writes in progress (checkpoints, tables, the final model). A second Ctrl-C exits at once, but only
 * after these have landed: every one of them replaces its file or folder atomically, so waiting for them (bounded)
 * means the finished epoch's checkpoint, or the newer one being written at the batch, is whole on disk.
 */
const pending = new Set<Promise<unknown>>();

/** Run `write` as an in-flight write that a second interrupt waits for. */
export function inFlight<T>(write: () => Promise<T>): Promise<T> {
  const p = write();
  pending.add(p);
  const done = (): void => void pending.delete(p);
  p.then(done, done);
  return p;
}

/** Resolves when every in-flight write has settled, or after `maxMs` (a stuck disk must not keep a process alive). */
export async function writesSettled(maxMs = 5000): Promise<void> {
  if (pending.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((r) => (timer = setTimeout(r, maxMs)));
  await Promise.race([Promise.allSettled([...pending]).then(() => undefined), timeout]);
  clearTimeout(timer);
}
