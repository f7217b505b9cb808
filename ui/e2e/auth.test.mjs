// The login of a JobManager with auth on (`weir local --auth-file`, a viewer
// and a submitter token): the login form and no cluster data without a
// token, a wrong token refused with the server's message, the viewer signed
// in with the overview live over the event stream (the token as
// access_token), every request carrying it and GET /whoami asked once, the
// role in the sidebar, the viewer's write controls (upload, run, delete,
// cancel, savepoint, stop) disabled with why and sending nothing; against a
// JobManager without /whoami (404) everything enabled and the viewer's
// writes refused with the server's 403 message where they were tried; sign
// out, the submitter (its controls enabled) uploading and running a job from
// the page, a reload keeping the session, and a stored token the server no
// longer takes sending the page back to the login form with a message. Auth
// off: no login, no role, nothing disabled.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { api, dashboardURL, example, launchBrowser, runViaAPI, shot, startCluster, stopAll, tmpdir, until, uploadViaAPI } from './harness.mjs';

const VIEWER = 'viewer-e2e-3f9a1c77d2b64e0a';
const SUBMITTER = 'submitter-e2e-8b21d05e9c4f7a13';
const KEY = 'weir.token';
const BLOCK = /^Needs a submitter token: signed in as viewer$/;

let cluster, base, page, errors, streamJob;

before(async () => {
  const dir = tmpdir('weir-ui-auth-');
  const file = path.join(dir, 'tokens');
  writeFileSync(file, `# e2e tokens\n${VIEWER} viewer\n${SUBMITTER} submitter\n`, { mode: 0o600 });
  cluster = await startCluster({ args: ['--auth-file', file], token: SUBMITTER });
  base = await dashboardURL(cluster);
  ({ page, errors } = await launchBrowser());
  // A running job for the viewer to fail to cancel (the API helper is the submitter).
  const { id } = await uploadViaAPI(cluster, example('stream'));
  ({ jobid: streamJob } = await runViaAPI(cluster, id, { parallelism: 1, programArgs: ['--count', '0', '--source-rate', '200'] }));
}, { timeout: 120_000 });

after(async () => {
  await stopAll();
}, { timeout: 60_000 });

const stored = () => page.evaluate((k) => localStorage.getItem(k), KEY);

/** A write control disabled for a viewer: aria-disabled (still focusable) and a title saying why. */
async function assertBlocked(loc, what) {
  await loc.waitFor();
  assert.equal(await loc.getAttribute('aria-disabled'), 'true', `${what} is disabled`);
  assert.match((await loc.getAttribute('title')) ?? '', BLOCK, `${what} says why`);
}

/** A write control as before roles: no aria-disabled, no "needs a submitter token". */
async function assertEnabled(loc, what) {
  await loc.waitFor();
  assert.equal(await loc.getAttribute('aria-disabled'), null, `${what} is enabled`);
  assert.doesNotMatch((await loc.getAttribute('title')) ?? '', /submitter/, `${what} has no explanation`);
}

/** The requests that change something, sent from the page while fn runs. */
async function writesDuring(p, fn) {
  const writes = [];
  const onRequest = (r) => r.method() !== 'GET' && writes.push(`${r.method()} ${new URL(r.url()).pathname}`);
  p.on('request', onRequest);
  try {
    await fn();
    await p.waitForTimeout(500);
  } finally {
    p.off('request', onRequest);
  }
  return writes;
}

async function signIn(token) {
  const form = page.locator('[data-testid=login-form]');
  await form.waitFor();
  await form.locator('[data-testid=login-token]').fill(token);
  await form.locator('[data-testid=login-submit]').click();
}

test('the server: health open, everything else needs a token', { timeout: 30_000 }, async () => {
  const health = await fetch(cluster.url + '/health');
  assert.equal(health.status, 200);
  assert.equal((await health.json()).status, 'ok');
  const res = await fetch(cluster.url + '/overview');
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
  // The dashboard's files answer without one.
  assert.equal((await fetch(cluster.url + '/')).status, 200);
});

test('without a token: the login form and no cluster data', { timeout: 60_000 }, async () => {
  await page.goto(`${base}/#/overview`);
  const form = page.locator('[data-testid=login-form]');
  await form.waitFor();
  assert.equal(await form.locator('[data-testid=login-token]').getAttribute('type'), 'password');
  assert.equal(await page.getByLabel('Access token').count(), 1, 'the token field has a label');
  assert.equal(await page.getByRole('button', { name: 'Sign in' }).count(), 1);
  assert.equal(await page.locator('.shell').count(), 0, 'no sidebar nor page behind the form');
  assert.equal(await page.locator('[data-testid=overview-stats]').count(), 0);
  assert.equal(await page.locator('[data-testid=sign-out]').count(), 0);
  assert.equal(await page.locator('[data-testid=login-notice]').count(), 0, 'a first visit needs no explanation');
  const text = await page.locator('body').innerText();
  assert.ok(!text.includes(streamJob) && !/TaskManagers/.test(text), `the login page shows no cluster data: ${text}`);
  assert.equal(await stored(), null);
  await shot(page, 'login');
});

test('a wrong token is refused with the server’s message', { timeout: 30_000 }, async () => {
  await signIn('not-a-token-of-this-cluster');
  const alert = page.locator('[data-testid=login-error] [role=alert]');
  await alert.waitFor();
  assert.match(await alert.innerText(), /auth: unknown token/);
  assert.equal(await stored(), null);
  assert.equal(await page.locator('.shell').count(), 0);
});

test('the viewer signs in: the overview, live over the event stream, every request with the token', { timeout: 60_000 }, async () => {
  const seen = [];
  const onRequest = (r) => seen.push(r);
  page.on('request', onRequest);
  await signIn(VIEWER);
  const stats = page.locator('[data-testid=overview-stats]');
  await stats.waitFor();
  await until(async () => /TaskManagers\s*2/i.test(await stats.innerText()), { what: 'the overview to show 2 TaskManagers' });
  assert.equal(await stored(), VIEWER);
  await page.locator('[data-testid=sign-out]').waitFor();
  assert.equal(page.url(), `${base}/#/overview`, 'the route is kept');
  // Live: the stream (which carries the token as access_token) is open and the uptime moves.
  await page.locator('[data-testid=live][data-mode=stream]').waitFor({ timeout: 20_000 });
  const up = async () => (await page.locator('.page-head .muted').innerText()).match(/up ([^·]+)/)?.[1];
  const first = await until(up, { what: 'the uptime' });
  await until(async () => (await up()) !== first, { timeoutMs: 10_000, what: 'the uptime to change without a reload' });
  await page.locator(`[data-testid=overview-running] tr[data-jid="${streamJob}"]`).waitFor();
  // The role, from GET /whoami, next to Sign out.
  const role = page.locator('.sidebar-foot [data-testid=role]');
  await role.waitFor();
  assert.equal(await role.innerText(), 'Signed in as viewer');
  page.off('request', onRequest);

  // Every API request after signing in carried the token: the header, or
  // access_token on the event stream.
  const apiReqs = seen.filter((r) => {
    const u = new URL(r.url());
    return u.origin === new URL(base).origin && u.pathname !== '/' && !u.pathname.startsWith('/assets/');
  });
  assert.ok(apiReqs.length > 0, 'the page made API requests');
  let streams = 0;
  for (const r of apiReqs) {
    const u = new URL(r.url());
    const auth = (await r.allHeaders())['authorization'];
    if (u.pathname === '/events') {
      streams++;
      assert.equal(u.searchParams.get('access_token'), VIEWER, `the stream carries the token: ${u}`);
    } else assert.equal(auth, `Bearer ${VIEWER}`, `${r.method()} ${u.pathname} carries the token`);
  }
  assert.ok(streams > 0, 'the page opened the event stream');
  assert.equal(apiReqs.filter((r) => new URL(r.url()).pathname === '/whoami').length, 1, 'GET /whoami asked once for the token');
});

test('the viewer’s write controls are disabled, say why and send nothing', { timeout: 60_000 }, async () => {
  await page.goto(`${base}/#/submit`);
  const zone = page.locator('[data-testid=dropzone]');
  await assertBlocked(zone, 'the drop zone');
  assert.match(await zone.innerText(), /Needs a submitter token: signed in as viewer/, 'the drop zone says why on the page');
  assert.equal(await page.locator('[data-testid=file-input]').isDisabled(), true, 'the file input is disabled');
  assert.match(await page.locator('[data-testid=viewer-note]').innerText(), /Signed in as viewer: uploading, running and deleting modules need a submitter token/);
  assert.equal(await page.getByRole('button', { name: /Drop a job module/, disabled: true }).count(), 1, 'the drop zone is a disabled button to assistive technology');
  const mod = page.locator('[data-testid=modules] tr[data-module="stream.wasm"]');
  await assertBlocked(mod.locator('[data-testid=module-run]'), 'Run…');
  await assertBlocked(mod.locator('[data-testid=module-delete]'), 'Delete');
  await shot(page, 'submit-viewer');

  // Clicks, a drop and the keyboard do nothing: no file chooser, no run
  // form, no confirmation, no request.
  const writes = await writesDuring(page, async () => {
    const chooser = page.waitForEvent('filechooser', { timeout: 1000 }).then(
      () => true,
      () => false,
    );
    await zone.click({ force: true });
    assert.equal(await chooser, false, 'no file chooser');
    await zone.focus();
    await page.keyboard.press('Enter');
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array([0, 97, 115, 109])], 'dropped.wasm', { type: 'application/wasm' }));
      const z = document.querySelector('[data-testid=dropzone]');
      for (const type of ['dragenter', 'dragover', 'drop']) z.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    });
    await mod.locator('[data-testid=module-run]').click({ force: true });
    await mod.locator('[data-testid=module-delete]').click({ force: true });
    await mod.locator('[data-testid=module-delete]').click({ force: true });
  });
  assert.deepEqual(writes, [], 'the submit page sent no write');
  assert.equal(await page.locator('[data-testid=upload-status]').count(), 0, 'no upload started');
  assert.equal(await page.locator('[data-testid=run-form]').count(), 0, 'no run form');
  assert.equal(await mod.locator('[data-testid=module-delete][data-armed]').count(), 0, 'no delete confirmation');

  // The jobs list and the job page: savepoint, stop and cancel.
  await page.goto(`${base}/#/jobs`);
  const row = page.locator(`[data-testid=running-jobs] tr[data-jid="${streamJob}"]`);
  await row.waitFor();
  await until(async () => (await row.getAttribute('data-state')) === 'RUNNING', { what: 'the stream job RUNNING' });
  for (const [id, what] of [['action-savepoint', 'Savepoint'], ['action-stop', 'Stop'], ['action-cancel', 'Cancel']]) await assertBlocked(row.locator(`[data-testid=${id}]`), `${what} in the jobs list`);
  assert.equal(await row.getByRole('button', { name: 'Cancel', disabled: true }).count(), 1);
  const jobWrites = await writesDuring(page, async () => {
    await row.locator('[data-testid=action-cancel]').click({ force: true });
    await row.locator('[data-testid=action-cancel]').click({ force: true });
    await row.locator('[data-testid=action-savepoint]').click({ force: true });
    await row.locator('[data-testid=action-stop]').click({ force: true });
    await row.locator('[data-testid=action-stop]').click({ force: true });
  });
  assert.deepEqual(jobWrites, [], 'the jobs list sent no write');
  assert.equal(await row.locator('[data-armed]').count(), 0, 'no confirmation');
  assert.equal(await page.locator('[data-testid=savepoint-status]').count(), 0, 'no savepoint started');
  await page.goto(`${base}/#/jobs/${streamJob}`);
  const head = page.locator('.job-head');
  for (const [id, what] of [['action-savepoint', 'Savepoint'], ['action-stop', 'Stop'], ['action-cancel', 'Cancel']]) await assertBlocked(head.locator(`[data-testid=${id}]`), `${what} on the job page`);
  assert.equal(await page.locator('.sidebar-foot [data-testid=role]').innerText(), 'Signed in as viewer');
  assert.equal((await api(cluster, `/jobs/${streamJob}`)).state, 'RUNNING', 'the job runs on');
});

test('a JobManager without /whoami: everything enabled, the viewer’s writes show the server’s 403 message', { timeout: 60_000 }, async () => {
  // An older JobManager answers GET /whoami 404: the role stays unknown and
  // the page behaves as before roles.
  let asked = 0;
  await page.route('**/whoami', (r) => {
    asked++;
    return r.fulfill({ status: 404, contentType: 'text/plain', body: '404 page not found' });
  });
  try {
    await page.goto(`${base}/#/submit`);
    await page.reload();
    const zone = page.locator('[data-testid=dropzone]');
    await zone.waitFor();
    await until(async () => asked > 0, { what: 'GET /whoami' });
    await page.locator('[data-testid=modules] tr[data-module="stream.wasm"]').waitFor();
    await assertEnabled(zone, 'the drop zone');
    await assertEnabled(page.locator('[data-testid=modules] tr[data-module="stream.wasm"] [data-testid=module-run]'), 'Run…');
    assert.equal(await page.locator('[data-testid=role]').count(), 0, 'no role label while the role is unknown');
    assert.equal(await page.locator('[data-testid=viewer-note]').count(), 0);
    await page.locator('[data-testid=sign-out]').waitFor();

    await page.setInputFiles('[data-testid=file-input]', example('wordcount'));
    const alert = page.locator('[data-testid=upload-status][data-phase=failed] [role=alert]');
    await alert.waitFor();
    assert.match(await alert.innerText(), /role not allowed: POST \/wasm\/upload needs the submitter role, the token is a viewer/);
    // Still signed in: a 403 is not a 401.
    assert.equal(await stored(), VIEWER);
    assert.equal(await page.locator('[data-testid=login-form]').count(), 0);

    await page.goto(`${base}/#/jobs`);
    const row = page.locator(`[data-testid=running-jobs] tr[data-jid="${streamJob}"]`);
    await row.waitFor();
    await until(async () => (await row.getAttribute('data-state')) === 'RUNNING', { what: 'the stream job RUNNING' });
    await assertEnabled(row.locator('[data-testid=action-cancel]'), 'Cancel');
    await row.locator('[data-testid=action-cancel]').click();
    await row.locator('[data-testid=action-cancel][data-armed=true]').click();
    const inline = row.locator('.inline-error[role=alert]');
    await inline.waitFor();
    assert.match(await inline.innerText(), new RegExp(`PATCH /jobs/${streamJob} needs the submitter role, the token is a viewer`));

    await row.locator('[data-testid=action-savepoint]').click();
    const sp = page.locator('[data-testid=savepoint-status][data-state=FAILED]');
    await sp.waitFor();
    assert.match(await sp.innerText(), /needs the submitter role, the token is a viewer/);
    assert.equal((await api(cluster, `/jobs/${streamJob}`)).state, 'RUNNING', 'the job runs on');
    assert.equal(asked, 1, 'GET /whoami asked once (a 404 is not retried)');
  } finally {
    await page.unroute('**/whoami');
  }
});

test('sign out: back to the login form, the token forgotten', { timeout: 30_000 }, async () => {
  await page.locator('[data-testid=sign-out]').click();
  await page.locator('[data-testid=login-form]').waitFor();
  assert.match(await page.locator('[data-testid=login-notice]').innerText(), /Signed out/);
  assert.equal(await stored(), null);
  assert.equal(await page.locator('.shell').count(), 0);
  // No cached cluster data comes back on the next visit without a token.
  await page.reload();
  await page.locator('[data-testid=login-form]').waitFor();
  assert.equal(await page.locator('[data-testid=overview-stats]').count(), 0);
});

test('the submitter signs in, uploads and runs a job from the page; a reload keeps the session', { timeout: 120_000 }, async () => {
  await page.goto(`${base}/#/submit`);
  await signIn(SUBMITTER);
  await page.locator('[data-testid=dropzone]').waitFor();
  assert.equal(await stored(), SUBMITTER);
  // The submitter's role, and every write control enabled.
  const role = page.locator('.sidebar-foot [data-testid=role]');
  await role.waitFor();
  assert.equal(await role.innerText(), 'Signed in as submitter');
  await assertEnabled(page.locator('[data-testid=dropzone]'), 'the drop zone');
  assert.equal(await page.locator('[data-testid=file-input]').isDisabled(), false);
  assert.equal(await page.locator('[data-testid=viewer-note]').count(), 0);
  await assertEnabled(page.locator('[data-testid=modules] tr[data-module="stream.wasm"] [data-testid=module-run]'), 'Run…');
  await assertEnabled(page.locator('[data-testid=modules] tr[data-module="stream.wasm"] [data-testid=module-delete]'), 'Delete');
  await page.setInputFiles('[data-testid=file-input]', example('wordcount'));
  await page.locator('[data-testid=upload-status][data-phase=done]').waitFor({ timeout: 60_000 });
  await page.locator('[data-testid=modules] tr[data-module="wordcount.wasm"]').waitFor();
  assert.deepEqual((await api(cluster, '/wasm')).files.map((f) => f.name).sort(), ['stream.wasm', 'wordcount.wasm']);

  // Run the stream module from the page (file connectors are limited with
  // auth on, and stream needs none): RUNNING, then cancel it from the page.
  const row = page.locator('[data-testid=modules] tr[data-module="stream.wasm"]');
  await row.locator('[data-testid=module-run]').click();
  const form = page.locator('[data-testid=run-form]');
  await form.locator('input[name=programArgs]').fill('--count 0 --source-rate 200');
  await form.locator('[data-testid=run-submit]').click();
  await page.waitForURL(/#\/jobs\/[0-9a-f]{32}/);
  const jid = /#\/jobs\/([0-9a-f]{32})/.exec(page.url())[1];
  const badge = page.locator('.job-head h1 .badge');
  await until(async () => (await badge.getAttribute('data-state')) === 'RUNNING', { timeoutMs: 60_000, what: 'the job RUNNING on its page' });

  // A reload keeps the session.
  await page.reload();
  await until(async () => (await badge.getAttribute('data-state').catch(() => null)) === 'RUNNING', { what: 'the job page after a reload' });
  assert.equal(await page.locator('[data-testid=login-form]').count(), 0);
  assert.equal(await stored(), SUBMITTER);

  // The submitter may cancel.
  const head = page.locator('.job-head');
  assert.equal(await role.innerText(), 'Signed in as submitter', 'the role after a reload');
  for (const id of ['action-savepoint', 'action-stop', 'action-cancel']) await assertEnabled(head.locator(`[data-testid=${id}]`), id);
  await head.locator('[data-testid=action-cancel]').click();
  await head.locator('[data-testid=action-cancel][data-armed=true]').click();
  await until(async () => (await badge.getAttribute('data-state')) === 'CANCELED', { timeoutMs: 60_000, what: 'the job CANCELED' });
  assert.equal(await page.locator('.job-head .inline-error').count(), 0);
});

test('a stored token the server no longer takes: back to the login form, with why', { timeout: 30_000 }, async () => {
  // As if the token file changed: the stored token is unknown now.
  await page.evaluate((k) => localStorage.setItem(k, 'revoked-token-0123456789abcdef'), KEY);
  await page.goto(`${base}/#/overview`);
  await page.reload();
  const notice = page.locator('[data-testid=login-notice]');
  await notice.waitFor();
  assert.match(await notice.innerText(), /no longer accepts the stored token \(auth: unknown token\)/);
  assert.equal(await stored(), null);
  assert.equal(await page.locator('.shell').count(), 0);
  assert.deepEqual(errors, [], 'no uncaught errors in the page');
});

test('auth off: no login form, no role, nothing disabled; a token left over is sent, and signing out of it keeps the app', { timeout: 120_000 }, async () => {
  const open = await startCluster({ taskManagers: 1, slots: 1 });
  const openBase = await dashboardURL(open);
  const { id } = await uploadViaAPI(open, example('stream'));
  const { jobid } = await runViaAPI(open, id, { parallelism: 1, programArgs: ['--count', '0', '--source-rate', '200'] });
  const p = await page.context().newPage();
  const whoami = () => p.waitForResponse((r) => new URL(r.url()).pathname === '/whoami').then((r) => r.json());
  let who = whoami();
  await p.goto(`${openBase}/#/overview`);
  await p.locator('[data-testid=overview-stats]').waitFor();
  await p.locator('[data-testid=live][data-mode=stream]').waitFor({ timeout: 20_000 });
  assert.deepEqual(await who, { auth: false, role: 'submitter' });
  assert.equal(await p.locator('[data-testid=login-form]').count(), 0);
  assert.equal(await p.locator('[data-testid=sign-out]').count(), 0, 'no sign-out without a token');
  assert.equal(await p.locator('[data-testid=role]').count(), 0, 'no role label with auth off');
  // Nothing disabled.
  await p.goto(`${openBase}/#/submit`);
  await assertEnabled(p.locator('[data-testid=dropzone]'), 'the drop zone');
  assert.equal(await p.locator('[data-testid=viewer-note]').count(), 0);
  await assertEnabled(p.locator('[data-testid=modules] tr[data-module="stream.wasm"] [data-testid=module-run]'), 'Run…');
  await assertEnabled(p.locator('[data-testid=modules] tr[data-module="stream.wasm"] [data-testid=module-delete]'), 'Delete');
  await p.goto(`${openBase}/#/jobs/${jobid}`);
  for (const a of ['action-savepoint', 'action-stop', 'action-cancel']) await assertEnabled(p.locator(`.job-head [data-testid=${a}]`), a);
  await p.goto(`${openBase}/#/overview`);
  // A token from an earlier auth-on JobManager on this address.
  await p.evaluate((k) => localStorage.setItem(k, 'leftover-token-0123456789'), KEY);
  who = whoami();
  await p.reload();
  await p.locator('[data-testid=overview-stats]').waitFor();
  assert.deepEqual(await who, { auth: false, role: 'submitter' });
  assert.equal(await p.locator('[data-testid=role]').count(), 0, 'no role label with auth off, even with a token');
  await p.locator('[data-testid=sign-out]').click();
  // The login form finds nothing to sign in to and gives the app back.
  await p.locator('[data-testid=overview-stats]').waitFor();
  assert.equal(await p.locator('[data-testid=login-form]').count(), 0);
  assert.equal(await p.locator('[data-testid=sign-out]').count(), 0);
  assert.equal(await p.evaluate((k) => localStorage.getItem(k), KEY), null);
  await p.close();
  await open.stop();
});
