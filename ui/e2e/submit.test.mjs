// Upload (file picker and a real drop), run wordcount at parallelism 2 from
// the page, watch it go RUNNING → FINISHED, check the drawn graph against
// the job's plan, the subtask table, the configuration tab, deleting a
// module, and the server's message for a file that is not a module.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { api, dashboardURL, example, launchBrowser, shot, startCluster, stopAll, tmpdir, until } from './harness.mjs';

let cluster, base, page, errors, work;

before(async () => {
  cluster = await startCluster();
  base = await dashboardURL(cluster);
  ({ page, errors } = await launchBrowser());
  work = tmpdir('weir-ui-work-');
}, { timeout: 120_000 });

after(async () => {
  await stopAll();
}, { timeout: 60_000 });

/** Enough text for wordcount to run a few seconds. */
function writeInput(file, lines) {
  const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon'.split(' ');
  const chunk = [];
  let x = 12345;
  for (let i = 0; i < 20000; i++) {
    const line = [];
    for (let j = 0; j < 12; j++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      line.push(words[x % words.length]);
    }
    chunk.push(line.join(' '));
  }
  const block = chunk.join('\n') + '\n';
  writeFileSync(file, block.repeat(Math.ceil(lines / 20000)));
}

test('upload with the file picker and by drag and drop, then delete', { timeout: 120_000 }, async () => {
  await page.goto(`${base}/#/submit`);
  await page.locator('[data-testid=dropzone]').waitFor();
  await page.setInputFiles('[data-testid=file-input]', example('wordcount'));
  await page.locator('[data-testid=upload-status][data-phase=done]').waitFor({ timeout: 60_000 });
  await page.locator('[data-testid=modules] tr[data-module="wordcount.wasm"]').waitFor();

  // A real drop event carrying a DataTransfer with the file.
  const bytes = readFileSync(example('stream')).toString('base64');
  await page.evaluate(
    ({ b64, name }) => {
      const bin = atob(b64);
      const buf = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([buf], name, { type: 'application/wasm' }));
      const zone = document.querySelector('[data-testid=dropzone]');
      for (const type of ['dragenter', 'dragover', 'drop']) zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    },
    { b64: bytes, name: 'stream.wasm' },
  );
  await page.locator('[data-testid=upload-status][data-phase=done]').waitFor({ timeout: 60_000 });
  await page.locator('[data-testid=modules] tr[data-module="stream.wasm"]').waitFor();
  const listed = (await api(cluster, '/wasm')).files.map((f) => f.name).sort();
  assert.deepEqual(listed, ['stream.wasm', 'wordcount.wasm']);
  await shot(page, 'submit');

  // Delete asks for a second click.
  const row = page.locator('[data-testid=modules] tr[data-module="stream.wasm"]');
  await row.locator('[data-testid=module-delete]').click();
  await row.locator('[data-testid=module-delete][data-armed=true]').click();
  await row.waitFor({ state: 'detached' });
  assert.deepEqual((await api(cluster, '/wasm')).files.map((f) => f.name), ['wordcount.wasm']);
});

test('a file that is not a module: the page shows the server’s message', { timeout: 60_000 }, async () => {
  const bogus = path.join(work, 'notes.wasm');
  writeFileSync(bogus, 'this is not WebAssembly\n');
  // What the server says about it.
  const form = new FormData();
  form.append('wasmfile', new Blob([readFileSync(bogus)]), 'notes.wasm');
  const res = await fetch(cluster.url + '/wasm/upload', { method: 'POST', body: form });
  assert.equal(res.status, 400);
  const { errors: want } = await res.json();

  await page.goto(`${base}/#/submit`);
  await page.setInputFiles('[data-testid=file-input]', bogus);
  const alert = page.locator('[data-testid=upload-status][data-phase=failed] [role=alert]');
  await alert.waitFor();
  const text = await alert.innerText();
  assert.ok(text.includes(want[0]), `the page shows ${JSON.stringify(text)}, the server said ${JSON.stringify(want[0])}`);
  await page.screenshot({ path: path.join(work, 'error.png') });
});

test('run wordcount from the page: RUNNING, then FINISHED, with its graph and subtasks', { timeout: 240_000 }, async () => {
  const input = path.join(work, 'words.txt');
  writeInput(input, 1_200_000);
  await page.goto(`${base}/#/submit`);
  const row = page.locator('[data-testid=modules] tr[data-module="wordcount.wasm"]');
  await row.locator('[data-testid=module-run]').click();
  const form = page.locator('[data-testid=run-form]');
  await form.locator('input[name=parallelism]').fill('2');
  await form.locator('input[name=programArgs]').fill(`--input ${input} --output ${path.join(work, 'out')}`);
  await form.locator('[data-testid=run-submit]').click();
  await page.waitForURL(/#\/jobs\/[0-9a-f]{32}/);
  const jid = /#\/jobs\/([0-9a-f]{32})/.exec(page.url())[1];

  const badge = page.locator('.job-head h1 .badge');
  let sawRunning = false;
  let shotRunning = false;
  await until(
    async () => {
      const s = await badge.getAttribute('data-state').catch(() => null);
      if (s === 'RUNNING') {
        sawRunning = true;
        if (!shotRunning) {
          // Once every subtask runs, a few live samples for the rates, then the picture.
          const j = await api(cluster, `/jobs/${jid}`);
          const c = j['status-counts'];
          if (c.RUNNING > 0 && c.RUNNING === Object.values(c).reduce((a, b) => a + b, 0)) {
            shotRunning = true;
            await page.waitForTimeout(2500);
            if ((await badge.getAttribute('data-state')) === 'RUNNING') await shot(page, 'job-graph');
            else shotRunning = false;
          }
        }
      }
      return s === 'FINISHED' || s === 'FAILED' || s === 'CANCELED' ? s : null;
    },
    { timeoutMs: 180_000, everyMs: 100, what: 'wordcount to end' },
  );
  assert.equal(await badge.getAttribute('data-state'), 'FINISHED');
  if (!sawRunning) console.log('# wordcount finished before the page showed RUNNING');
  else assert.ok(true, 'saw RUNNING');
  if (!shotRunning) await shot(page, 'job-graph');

  // The graph has exactly the plan's vertices and edges.
  const job = await api(cluster, `/jobs/${jid}`);
  const wantNodes = job.plan.nodes.map((n) => n.id).sort();
  const wantEdges = job.plan.nodes.flatMap((n) => (n.inputs ?? []).map((i) => `${i.id}->${n.id}:${i.ship_strategy}`)).sort();
  const gotNodes = (await page.locator('[data-testid=job-graph] g.node').evaluateAll((els) => els.map((e) => e.getAttribute('data-vertex')))).sort();
  const gotEdges = (
    await page.locator('[data-testid=job-graph] g.edge').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-from')}->${e.getAttribute('data-to')}:${e.getAttribute('data-strategy')}`))
  ).sort();
  assert.deepEqual(gotNodes, wantNodes);
  assert.deepEqual(gotEdges, wantEdges);
  // The labels on the edges are the ship strategies.
  const labels = await page.locator('[data-testid=job-graph] .edge-label').evaluateAll((els) => els.map((e) => e.textContent));
  assert.deepEqual(labels.sort(), job.plan.nodes.flatMap((n) => (n.inputs ?? []).map((i) => i.ship_strategy)).sort());

  // Click a vertex of parallelism 2: its subtask table has 2 rows.
  const v = job.vertices.find((x) => x.parallelism === 2);
  assert.ok(v, 'a vertex runs at parallelism 2');
  await page.locator(`[data-testid=job-graph] g.node[data-vertex="${v.id}"]`).click();
  await page.waitForURL(new RegExp(`vertex=${v.id}`));
  await until(async () => (await page.locator('[data-testid=subtasks] tr.subtask-row').count()) === 2, { what: 'two subtask rows' });
  const first = page.locator('[data-testid=subtasks] tr.subtask-row').first();
  assert.match(await first.innerText(), /FINISHED/);
  assert.ok(await first.locator('a[href^="#/taskmanagers/"]').count(), 'the subtask links its TaskManager');
  await page.locator('[data-testid=subtasks]').scrollIntoViewIfNeeded();
  await page.evaluate(() => document.querySelector('[data-testid=subtasks]').closest('.card').scrollIntoView({ block: 'start' }));
  await shot(page, 'subtasks');

  // The jobs page lists it as completed.
  await page.goto(`${base}/#/jobs`);
  await page.locator(`[data-testid=completed-jobs] tr[data-jid="${jid}"][data-state=FINISHED]`).waitFor();
  await shot(page, 'jobs');

  // Configuration tab: the program arguments it ran with.
  await page.goto(`${base}/#/jobs/${jid}/configuration`);
  await page.locator('[data-testid=config-tab]').waitFor();
  await until(async () => (await page.locator('[data-testid=config-tab] code.args').count()) > 0, { what: 'program arguments' });
  assert.match(await page.locator('[data-testid=config-tab] code.args').innerText(), /--input/);
  await shot(page, 'configuration');
  assert.deepEqual(errors, [], 'no uncaught errors in the page');
});
