// High availability on the overview: two JobManagers sharing a `weir etcd`,
// the page opened on the standby (which forwards to the leader), then a
// planned handover (POST /cluster/leader/resign): the page shows the new
// leader, its epoch and the leadership history without a reload.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { api, dashboardURL, freePort, launchBrowser, onCleanup, shot, startProcess, stopAll, tmpdir, until } from './harness.mjs';

let jms, base, page, errors;

before(async () => {
  const dir = tmpdir('weir-ui-ha-');
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const etcd = `http://127.0.0.1:${await freePort()}`;
  await startProcess(['etcd', '--data-dir', path.join(dir, 'etcd'), '--listen', etcd], /etcd serving/);
  jms = [];
  for (const i of [0, 1]) {
    const rest = await freePort();
    const rpc = await freePort();
    await startProcess(
      ['jobmanager', '--id', `jm-${i}`, '--etcd-endpoints', etcd, '--data-dir', path.join(dir, `jm-${i}`), '--storage-dir', path.join(dir, 'shared'), '--rest-addr', `127.0.0.1:${rest}`, '--rpc-addr', `127.0.0.1:${rpc}`, '--log-level', 'warn'],
      /serving/,
      { name: `jobmanager jm-${i}` },
    );
    jms.push({ id: `jm-${i}`, url: `http://127.0.0.1:${rest}` });
  }
  await until(async () => (await api(jms[0], '/cluster/leader')).leader, { what: 'a leader' });
  ({ page, errors } = await launchBrowser());
}, { timeout: 120_000 });

after(async () => {
  await stopAll();
}, { timeout: 60_000 });

test('the overview follows a leader handover live', { timeout: 90_000 }, async () => {
  const first = await api(jms[0], '/cluster/leader');
  const standby = jms.find((j) => j.id !== first.leader.id);
  // Open the dashboard on the standby: it forwards the API to the leader.
  base = await dashboardURL(standby);
  await page.goto(`${base}/#/overview`);
  await page.locator('[data-testid=ha-leader-id]').waitFor();
  assert.equal((await page.locator('[data-testid=ha-leader-id]').innerText()).trim(), first.leader.id);
  assert.match(await page.locator('[data-testid=ha-leader]').innerText(), /standby, forwarding/);
  assert.match(await page.locator('.ha-standbys').innerText(), new RegExp(standby.id));

  // Planned handover: the leader resigns and the standby takes over.
  await api(jms[0], '/cluster/leader/resign', { method: 'POST' });
  await until(async () => (await page.locator('[data-testid=ha-leader-id]').innerText()).trim() === standby.id, { timeoutMs: 30_000, what: 'the page to show the new leader' });
  const now = await api(standby, '/cluster/leader');
  assert.ok(now.leader.epoch > first.leader.epoch);
  await until(async () => (await page.locator('[data-testid=ha-epoch]').innerText()).trim() === String(now.leader.epoch), { what: 'the new epoch' });
  if (now.history) {
    await until(async () => (await page.locator('[data-testid=ha-history] tbody tr').count()) >= 2, { what: 'two leaderships in the history' });
    assert.match(await page.locator('[data-testid=ha-history] tr.current').innerText(), new RegExp(standby.id));
  }
  assert.match(await page.locator('[data-testid=ha-leader]').innerText(), /the leader\)/);
  await page.waitForTimeout(500);
  await shot(page, 'overview-ha');
  assert.deepEqual(errors, [], 'no uncaught errors in the page');
});
