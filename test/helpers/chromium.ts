/**
 * Headless chromium (Debian's `chromium`; `.ci/run` installs it) for the report.html tests: load a page with
 * `--dump-dom`, collect what the browser logged, and describe what it built through a harness page.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** The describe-title suffix that says why the browser tests were skipped. */
export const CHROMIUM_SKIP = CHROMIUM ? '' : ' (SKIPPED: /usr/bin/chromium not found; `apt-get install chromium`, as .ci/run does)';
if (!CHROMIUM) process.stderr.write(`report.html browser tests${CHROMIUM_SKIP}\n`);

/**
 * A harness page loads report.html in an iframe and describes what the browser built: sections, scripts,
 * resources fetched, and for each chart its SVG, rendered size and each series path's points and length.
 */
export const HARNESS = `<!doctype html><html><head><meta charset="utf-8"></head><body><pre id="out">pending</pre>
<iframe id="f" src="REPORT" style="width:1400px;height:900px"></iframe><script>
const f = document.getElementById('f');
f.addEventListener('load', () => {
  const out = document.getElementById('out');
  try {
    const d = f.contentDocument;
    const charts = [...d.querySelectorAll('figure.chart')].map((fig) => {
      const svg = fig.querySelector('svg');
      return {
        id: fig.id,
        svgNs: svg ? svg.namespaceURI : null,
        width: svg ? svg.getBoundingClientRect().width : 0,
        paths: [...fig.querySelectorAll('path.series')].map((p) => ({
          declared: Number(p.getAttribute('data-points')),
          points: (p.getAttribute('d').match(/[ML]/g) || []).length,
          length: p.getTotalLength(),
          bboxW: p.getBBox().width,
        })),
      };
    });
    out.textContent = JSON.stringify({
      title: d.title,
      scripts: d.scripts.length,
      sections: [...d.querySelectorAll('section')].map((s) => s.id),
      resources: f.contentWindow.performance.getEntriesByType('resource').map((r) => r.name),
      status: d.getElementById('status') && d.getElementById('status').textContent,
      charts,
    });
  } catch (e) { out.textContent = 'ERR ' + e; }
});
</script></body></html>`;

export interface BrowserView {
  title: string;
  scripts: number;
  sections: string[];
  resources: string[];
  status: string;
  charts: { id: string; svgNs: string | null; width: number; paths: { declared: number; points: number; length: number; bboxW: number }[] }[];
}

export function chromium(url: string, profile: string, extra: string[] = []): Promise<{ dom: string; log: string }> {
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    `--user-data-dir=${profile}`,
    '--enable-logging=stderr',
    '--v=0',
    ...extra,
    '--dump-dom',
    url,
  ];
  return new Promise((res, rej) =>
    execFile(CHROMIUM!, args, { timeout: 90_000, maxBuffer: 64 << 20 }, (e, stdout, stderr) => (e ? rej(new Error(`${e.message}\n${stderr}`)) : res({ dom: stdout, log: stderr }))),
  );
}

/** Console messages (errors, CSP violations, failed loads) the browser logged for a page. */
export function consoleLines(log: string): string[] {
  return log.split('\n').filter((l) => /:CONSOLE|Uncaught|Refused to|Failed to load/.test(l));
}

/** Open `reportHtml` in the harness; what the browser built and the console lines it logged. */
export async function viewInChromium(reportHtml: string): Promise<{ view: BrowserView | null; raw: string; console: string[] }> {
  const work = mkdtempSync(join(tmpdir(), 'fastlr-chromium-'));
  try {
    const harness = join(work, 'harness.html');
    writeFileSync(harness, HARNESS.replace('REPORT', pathToFileURL(reportHtml).href));
    const { dom, log } = await chromium(pathToFileURL(harness).href, join(work, 'profile'), ['--allow-file-access-from-files']);
    const m = /<pre id="out">([^<]*)<\/pre>/.exec(dom);
    const raw = m ? m[1]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&') : `no harness output in:\n${dom.slice(0, 500)}\n${log.slice(-2000)}`;
    let view: BrowserView | null = null;
    if (m && !raw.startsWith('ERR') && raw !== 'pending') view = JSON.parse(raw) as BrowserView;
    return { view, raw, console: consoleLines(log) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
