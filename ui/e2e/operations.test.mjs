// Operating running jobs from the page: the overview with the HA leader,
// cancel of an unbounded stream job, a savepoint and a stop-with-savepoint
// of a checkpointing exactlyonce job, the exceptions of a failing job, the
// TaskManagers, dark mode, and the live updates with and without the
// server-sent events stream.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { api, dashboardURL, example, launchBrowser, runViaAPI, shot, startCluster, stopAll, tmpdir, until, uploadViaAPI } from './harness.mjs';

let cluster, base, page, errors, work, streamId, eoId;

before(async () => {
  cluster = await startCluster();
  base = await dashboardURL(cluster);
  ({ page, errors } = await launchBrowser());
  work = tmpdir('weir-ui-ops-');
  streamId = (await uploadViaAPI(cluster, example('stream'))).id;
  eoId = (await uploadViaAPI(cluster, example('exactlyonce'))).id;
}, { timeout: 180_000 });

after(async () => {
  await stopAll();
}, { timeout: 60_000 });

const state = (jid) => page.locator(`tr.job-row[data-jid="${jid}"]`).getAttribute('data-state');

async function waitAllRunning(jid, timeoutMs = 60_000) {
  await until(
    async () => {
      const j = await api(cluster, `/jobs/${jid}`);
      const c = j['status-counts'];
      return j.state === 'RUNNING' && c.RUNNING > 0 && c.RUNNING === Object.values(c).reduce((a, b) => a + b, 0);
    },
    { timeoutMs, what: `job ${jid} to run all its subtasks` },
  );
}

test('overview: cluster numbers and the HA leader', { timeout: 90_000 }, async () => {
  const { jobid } = await runViaAPI(cluster, streamId, { parallelism: 2, programArgs: ['--count', '0', '--source-rate', '500'] });
  await waitAllRunning(jobid);
  await page.goto(`${base}/#/overview`);
  const leader = await api(cluster, '/cluster/leader');
  await page.locator('[data-testid=ha-leader-id]').waitFor();
  assert.equal((await page.locator('[data-testid=ha-leader-id]').innerText()).trim(), leader.leader.id);
  assert.equal((await page.locator('[data-testid=ha-epoch]').innerText()).trim(), String(leader.leader.epoch));
  if (leader.history) await page.locator('[data-testid=ha-history] tr.current').waitFor();
  await page.locator(`[data-testid=overview-running] tr[data-jid="${jobid}"]`).waitFor();
  const stats = await page.locator('[data-testid=overview-stats]').innerText();
  assert.match(stats, /TaskManagers\s*2/i);
  assert.match(stats, /\/ 8/);
  await page.waitForTimeout(1200);
  await shot(page, 'overview');
  await api(cluster, `/jobs/${jobid}?mode=cancel`, { method: 'PATCH' });
});

test('live: the stream is used, and polling takes over without it', { timeout: 60_000 }, async () => {
  await page.goto(`${base}/#/overview`);
  await page.locator('[data-testid=live][data-mode=stream]').waitFor({ timeout: 15_000 });
  // A second page whose /events answers 404 (as an older JobManager would).
  const p2 = await page.context().newPage();
  await p2.route('**/events?**', (r) => r.fulfill({ status: 404, contentType: 'application/json', body: '{"errors":["Not Found"]}' }));
  await p2.goto(`${base}/#/overview`);
  await p2.locator('[data-testid=live][data-mode=polling]').waitFor({ timeout: 15_000 });
  // Still live: the uptime moves without a reload.
  const up = async () => (await p2.locator('.page-head .muted').innerText()).match(/up ([^·]+)/)?.[1];
  const first = await until(up, { what: 'the uptime' });
  await until(async () => (await up()) !== first, { timeoutMs: 10_000, what: 'the uptime to change' });
  await p2.close();
});

test('cancel an unbounded stream job from the jobs page', { timeout: 90_000 }, async () => {
  const { jobid } = await runViaAPI(cluster, streamId, { parallelism: 2, programArgs: ['--count', '0', '--source-rate', '1000'] });
  await page.goto(`${base}/#/jobs`);
  const row = page.locator(`[data-testid=running-jobs] tr[data-jid="${jobid}"]`);
  await row.waitFor();
  await until(async () => (await state(jobid)) === 'RUNNING', { what: 'RUNNING' });
  await row.locator('[data-testid=action-cancel]').click();
  await row.locator('[data-testid=action-cancel][data-armed=true]').click();
  await page.locator(`[data-testid=completed-jobs] tr[data-jid="${jobid}"][data-state=CANCELED]`).waitFor({ timeout: 30_000 });
  assert.equal((await api(cluster, `/jobs/${jobid}`)).state, 'CANCELED');
});

test('savepoint, checkpoints, then stop with a savepoint, from the job page', { timeout: 180_000 }, async () => {
  const out = path.join(work, 'eo-out');
  const { jobid } = await runViaAPI(cluster, eoId, {
    parallelism: 2,
    programArgs: ['--keys', '8', '--count', '100000000', '--rate', '4000', '--output', out, '--checkpoint-interval', '1s'],
  });
  await waitAllRunning(jobid);
  await page.goto(`${base}/#/jobs/${jobid}`);
  await page.locator('.job-head [data-testid=action-savepoint]').click();
  const status = page.locator('[data-testid=savepoint-status]');
  await status.waitFor();
  await page.locator('[data-testid=savepoint-status][data-state=COMPLETED]').waitFor({ timeout: 60_000 });
  const text = await status.innerText();
  assert.match(text, /Savepoint completed/);
  const where = (await status.locator('.sp-path').innerText()).trim();
  assert.ok(where.length > 0, 'the savepoint path is shown');

  // The checkpoints tab: counts, history with the savepoint, configuration.
  await page.locator('.tabs [data-tab=checkpoints]').click();
  await page.locator('[data-testid=checkpoint-counts]').waitFor();
  await until(async () => (await page.locator('[data-testid=checkpoint-history] tr[data-checkpoint]').count()) >= 3, { timeoutMs: 30_000, what: 'three checkpoints' });
  const cps = await api(cluster, `/jobs/${jobid}/checkpoints`);
  assert.ok(cps.history.some((c) => c.is_savepoint), 'the savepoint is in the history');
  assert.match(await page.locator('[data-testid=checkpoints-tab]').innerText(), /exactly_once/);
  await page.waitForTimeout(1000);
  await shot(page, 'checkpoints');

  // Overview tab graph of a busy job, for the dark-mode picture later.
  await page.locator('.tabs [data-tab=overview]').click();
  await page.locator('[data-testid=job-graph] g.node').first().waitFor();

  // Stop with a savepoint: the job ends, and the page says where the savepoint is.
  await page.locator('.job-head [data-testid=action-stop]').click();
  await page.locator('.job-head [data-testid=action-stop][data-armed=true]').click();
  await page.locator('[data-testid=savepoint-status][data-state=COMPLETED]').waitFor({ timeout: 90_000 });
  assert.match(await status.innerText(), /Stop with savepoint completed/);
  await until(async () => ['FINISHED', 'CANCELED'].includes((await api(cluster, `/jobs/${jobid}`)).state), { timeoutMs: 60_000, what: 'the stopped job to end' });
  await page.locator('.job-head h1 .badge[data-state=FINISHED], .job-head h1 .badge[data-state=CANCELED]').waitFor({ timeout: 15_000 });
});

test('exceptions of a failing job, with its guest logs', { timeout: 120_000 }, async () => {
  const { jobid } = await runViaAPI(cluster, streamId, {
    parallelism: 2,
    programArgs: ['--count', '1000', '--fail-at', '500', '--source-rate', '200'],
    config: { 'restart-strategy.type': 'fixed-delay', 'restart-strategy.fixed-delay.attempts': '2', 'restart-strategy.fixed-delay.delay': '1s' },
  });
  await until(async () => (await api(cluster, `/jobs/${jobid}/exceptions`)).exceptionHistory.entries.length >= 1, { timeoutMs: 90_000, what: "an exception" });
  await page.goto(`${base}/#/jobs/${jobid}/exceptions`);
  await page.locator('[data-testid=exception-history]').waitFor();
  assert.match(await page.locator('[data-testid=exception-history]').innerText(), /poison/);
  await page.locator('[data-testid=guest-logs]').first().waitFor();
  await until(async () => (await page.locator('[data-testid=root-exception]').count()) > 0, { timeoutMs: 60_000, what: 'the root exception' });
  await shot(page, 'exceptions');
  await api(cluster, `/jobs/${jobid}?mode=cancel`, { method: 'PATCH' }).catch(() => {});
});

test('TaskManagers and one TaskManager with its slots', { timeout: 90_000 }, async () => {
  const { jobid } = await runViaAPI(cluster, streamId, { parallelism: 3, programArgs: ['--count', '0', '--source-rate', '500'] });
  await waitAllRunning(jobid);
  await page.goto(`${base}/#/taskmanagers`);
  await page.locator('[data-testid=taskmanagers] tr[data-tm]').first().waitFor();
  const tms = (await api(cluster, '/taskmanagers')).taskmanagers;
  assert.equal(await page.locator('[data-testid=taskmanagers] tr[data-tm]').count(), tms.length);
  await page.waitForTimeout(1000);
  await shot(page, 'taskmanagers');
  const id = tms[0].id;
  await page.locator(`[data-testid=taskmanagers] tr[data-tm="${id}"] a`).first().click();
  await page.locator('[data-testid=tm-slots] tr[data-slot]').first().waitFor();
  assert.equal(await page.locator('[data-testid=tm-slots] tr[data-slot]').count(), tms[0].slotsNumber);
  await until(async () => (await page.locator(`[data-testid=tm-slots] a[href="#/jobs/${jobid}"]`).count()) > 0, { what: 'a slot running the job' });
  await shot(page, 'taskmanager');

  // Dark mode: the toggle cycles Auto → Light → Dark, remembered across reloads.
  await page.goto(`${base}/#/jobs/${jobid}`);
  await page.locator('[data-testid=job-graph] g.node').first().waitFor();
  const toggle = page.locator('[data-testid=theme-toggle]');
  const choose = async (want) => {
    for (let i = 0; i < 3 && (await toggle.getAttribute('data-theme-choice')) !== want; i++) {
      const before = await toggle.getAttribute('data-theme-choice');
      await toggle.click();
      await until(async () => (await toggle.getAttribute('data-theme-choice')) !== before, { timeoutMs: 5000, what: 'the theme to change' });
    }
    assert.equal(await toggle.getAttribute('data-theme-choice'), want);
  };
  await choose('dark');
  assert.equal(await page.locator('html').getAttribute('data-theme'), 'dark');
  await page.reload();
  await page.locator('[data-testid=job-graph] g.node').first().waitFor();
  assert.equal(await page.locator('html').getAttribute('data-theme'), 'dark');
  assert.equal(await page.evaluate(() => localStorage.getItem('weir.theme')), 'dark');
  await page.waitForTimeout(2500);
  await shot(page, 'dark-mode');
  // Back to following the system.
  await choose('system');
  assert.equal(await page.evaluate(() => localStorage.getItem('weir.theme')), null);
  await api(cluster, `/jobs/${jobid}?mode=cancel`, { method: 'PATCH' });
  assert.deepEqual(errors, [], 'no uncaught errors in the page');
});
