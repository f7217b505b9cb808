// Job page performance in the browser: the time from navigating to a job
// page to its graph and subtask table being on screen, and the time of each
// live update's re-render (arrival of the streamed answer → end of the
// render), with the long tasks seen meanwhile, on the C example `wide`
// (bin/examples/c/wide.wasm, built by sdk/c/build.sh) at parallelism 256
// with 10 vertices: 2 560 subtasks on 2 TaskManagers of 128 slots. Prints
//   PERF job-page-render-ms=<n> update-render-ms-p95=<n>
// and writes the figures to ui/e2e/perf.json.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { syntheticServer } from './synthetic.mjs';
import { api, dashboardURL, example, hasExample, launchBrowser, runViaAPI, shot, startCluster, stopAll, UI, until, uploadViaAPI } from './harness.mjs';

const WIDE_MODULE = 'c/wide';
const WIDE = hasExample(WIDE_MODULE);
const P = Number(process.env.WEIR_WIDE_PARALLELISM ?? 256);
const V = Number(process.env.WEIR_WIDE_VERTICES ?? 10);
const WIDE_ARGS = process.env.WEIR_WIDE_ARGS ? process.env.WEIR_WIDE_ARGS.split(' ') : ['--vertices', String(V), '--rate', '5000'];
const UPDATES_MS = Number(process.env.WEIR_PERF_UPDATES_MS ?? 15_000);

let cluster, base, page, jid, job;

before(async () => {
  assert.ok(WIDE, `${example(WIDE_MODULE)} is missing: build it with bash sdk/c/build.sh bin (go tool task build)`);
  // Slot sharing: a job takes as many slots as its largest parallelism.
  cluster = await startCluster({ taskManagers: 2, slots: Math.ceil(P / 2) });
  base = await dashboardURL(cluster);
  ({ page } = await launchBrowser());
  await page.addInitScript(() => {
    window.__WEIR_PERF__ = [];
    window.__LONG__ = [];
    try {
      new PerformanceObserver((l) => {
        for (const e of l.getEntries()) window.__LONG__.push({ at: e.startTime, ms: e.duration });
      }).observe({ type: 'longtask', buffered: true });
    } catch {}
  });
  const mod = await uploadViaAPI(cluster, example(WIDE_MODULE));
  const req = { parallelism: P, programArgs: WIDE_ARGS };
  ({ jobid: jid } = await runViaAPI(cluster, mod.id, req));
  await until(
    async () => {
      job = await api(cluster, `/jobs/${jid}`);
      const c = job['status-counts'];
      return job.state === 'RUNNING' && c.RUNNING === Object.values(c).reduce((a, b) => a + b, 0);
    },
    { timeoutMs: 300_000, everyMs: 1000, what: 'every subtask of the job to run' },
  );
}, { timeout: 420_000 });

after(async () => {
  await stopAll();
}, { timeout: 60_000 });

/** In the page: resolves with performance.now() once the graph and the subtask table are drawn. */
const rendered = (nv) =>
  new Promise((resolve) => {
    const check = () => {
      const nodes = document.querySelectorAll('[data-testid=job-graph] g.node').length;
      const rows = document.querySelectorAll('[data-testid=subtasks] tr.subtask-row').length;
      if (nodes === nv && rows > 0) resolve(performance.now());
      else requestAnimationFrame(check);
    };
    check();
  });

function pct(xs, p) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function measure(base, jid, job) {
  const nv = job.vertices.length;
  const subtasks = job.vertices.reduce((a, v) => a + v.subtasks.length, 0);

  // In-app navigation: from the jobs list (app loaded) to the job page.
  await page.goto(`${base}/#/jobs`);
  await page.locator('.card').first().waitFor({ timeout: 60_000 });
  await page.waitForTimeout(500);
  const inApp = await page.evaluate(
    ({ jid, nv, src }) => {
      const done = new Function(`return (${src})`)()(nv);
      const t0 = performance.now();
      location.hash = `#/jobs/${jid}`;
      return done.then((t) => t - t0);
    },
    { jid, nv, src: rendered.toString() },
  );

  // Full load: a fresh navigation to the job page (scripts, first fetch, layout, render).
  await page.goto('about:blank');
  await page.goto(`${base}/#/jobs/${jid}`);
  const cold = await page.evaluate(({ nv, src }) => new Function(`return (${src})`)()(nv), { nv, src: rendered.toString() });
  const rows = await page.locator('[data-testid=subtasks] tr.subtask-row').count();

  // Live updates of the job page for a while.
  await page.evaluate(() => {
    window.__WEIR_PERF__.length = 0;
    window.__LONG__.length = 0;
  });
  const mode = await page.locator('[data-testid=live]').getAttribute('data-mode');
  await page.waitForTimeout(UPDATES_MS);
  const { updates, longs } = await page.evaluate((p) => ({ updates: window.__WEIR_PERF__.filter((u) => u.path === p), longs: window.__LONG__ }), `/jobs/${jid}`);
  const ms = updates.map((u) => u.ms);
  const p95 = pct(ms, 95);
  return {
    vertices: nv,
    subtasks,
    maxParallelism: Math.max(...job.vertices.map((v) => v.parallelism)),
    'job-page-render-ms': Math.round(cold),
    'job-page-in-app-navigation-ms': Math.round(inApp),
    'subtask-rows-in-dom': rows,
    'live-mode': mode,
    'update-count': ms.length,
    'update-render-ms-p50': Math.round(pct(ms, 50) * 10) / 10,
    'update-render-ms-p95': Math.round(p95 * 10) / 10,
    'update-render-ms-max': Math.round(Math.max(...ms) * 10) / 10,
    'long-tasks': longs.length,
    'long-task-ms-max': longs.length ? Math.round(Math.max(...longs.map((l) => l.ms))) : 0,
    'measured-over-ms': UPDATES_MS,
    'target-render-under-1s': cold < 1000,
  };
}

const results = {};

test('job page render and live update times of the real job', { timeout: 300_000 }, async () => {
  const m = await measure(base, jid, job);
  const figures = { job: `c/wide at parallelism ${P}: ${WIDE_ARGS.join(' ')}`, wide: true, ...m, at: new Date().toISOString() };
  results.real = figures;
  writeFileSync(path.join(UI, 'e2e', 'perf.json'), JSON.stringify(results, null, 2) + '\n');
  console.log(`PERF job-page-render-ms=${figures['job-page-render-ms']} update-render-ms-p95=${figures['update-render-ms-p95']}`);
  console.log(`# perf: ${JSON.stringify(figures)}`);
  await shot(page, 'job-wide');
  check(figures);
});

// The same measure on a synthetic job of 10 vertices at parallelism 256
// (answers shaped like the JobManager's, streamed every second), so the
// page's cost at that size is known even where the cluster cannot run it.
test('job page render and live update times of a synthetic p=256 x 10 job', { timeout: 300_000 }, async () => {
  const sjid = 'feedfacefeedfacefeedfacefeedface';
  const syn = await syntheticServer(cluster, sjid, 256, 10);
  const m = await measure(syn.url, sjid, syn.job());
  const figures = { job: 'synthetic: 10 vertices at parallelism 256, served by e2e/synthetic.mjs', wide: false, ...m, at: new Date().toISOString() };
  results.synthetic = figures;
  await shot(page, 'job-wide-synthetic');
  // Its vertices after the source have event time: the watermarks card lists them.
  assert.equal(await page.locator('[data-testid=watermarks] tbody tr').count(), 9);
  writeFileSync(path.join(UI, 'e2e', 'perf.json'), JSON.stringify(results, null, 2) + '\n');
  console.log(`PERF-SYNTHETIC-256x10 job-page-render-ms=${figures['job-page-render-ms']} update-render-ms-p95=${figures['update-render-ms-p95']}`);
  console.log(`# perf: ${JSON.stringify(figures)}`);
  check(figures);
});

function check(f) {
  const want = Math.floor(f['measured-over-ms'] / 1000) - 3;
  assert.ok(f['update-count'] >= want, `about one update a second (got ${f['update-count']}, mode ${f['live-mode']})`);
  // Regression guards, generous because the machine is shared; the targets (1 s) are in perf.json.
  assert.ok(f['job-page-render-ms'] < 5000, `job page rendered in ${f['job-page-render-ms']} ms`);
  assert.ok(f['update-render-ms-p95'] < 1000, `update re-render p95 ${f['update-render-ms-p95']} ms`);
}
