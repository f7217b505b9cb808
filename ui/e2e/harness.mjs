// Shared by the end-to-end tests: a real `weir local` cluster on a free
// port, the dashboard (served by the cluster itself when its embedded build
// is the current ui/dist, otherwise ui/dist served here with the API
// proxied to the cluster), and Debian's Chromium driven by playwright-core.
// Everything started is stopped in after(), also when a test fails.

import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const UI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(UI, '..');
export const WEIR_BIN = path.resolve(UI, process.env.WEIR_BIN ?? '../bin/weir');
export const EXAMPLES = path.resolve(UI, process.env.WEIR_EXAMPLES ?? '../bin/examples');
export const SCREENSHOTS = path.join(ROOT, 'docs', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export function example(name) {
  return path.join(EXAMPLES, `${name}.wasm`);
}

export function hasExample(name) {
  return existsSync(example(name));
}

/** A fresh temporary directory, removed by stopAll. */
export function tmpdir(prefix = 'weir-ui-') {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const cleanups = [];

/** Registers a cleanup run by stopAll (in reverse order). */
export function onCleanup(fn) {
  cleanups.push(fn);
}

export async function stopAll() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (e) {
      console.error('cleanup:', e);
    }
  }
}

const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
});

/** Starts `weir ARGS...` and waits for a line of its stdout matching ready. */
export async function startProcess(args, ready, { timeoutMs = 60_000, name = args[0] } = {}) {
  const proc = spawn(WEIR_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => {
    err = (err + d).slice(-20000);
  });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
      await gone;
      clearTimeout(t);
    }
    children.delete(proc);
  };
  onCleanup(stop);
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`weir ${name} did not print ${ready} within ${timeoutMs} ms; stderr:\n${err}`)), timeoutMs);
    proc.stdout.on('data', (d) => {
      out += d;
      if (ready.test(out)) {
        clearTimeout(t);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`weir ${name} exited (${code}) before it was ready; stderr:\n${err}`));
    });
  });
  return { proc, stop };
}

/**
 * Starts `weir local` and waits for its "Dashboard" line. args: more flags
 * (e.g. --auth-file FILE); token: the bearer token api() sends to it.
 */
export async function startCluster({ taskManagers = 2, slots = 4, timeoutMs = 60_000, args: extra = [], token } = {}) {
  if (!existsSync(WEIR_BIN)) throw new Error(`no weir binary at ${WEIR_BIN} (build it: go build -o bin/weir ./cmd/weir, or set WEIR_BIN)`);
  const port = await freePort();
  const data = tmpdir('weir-ui-data-');
  const args = ['local', '--rest-addr', `127.0.0.1:${port}`, '--task-managers', String(taskManagers), '--slots', String(slots), '--data-dir', data, '--log-level', 'warn', ...extra];
  const proc = spawn(WEIR_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => {
    err += d;
    if (err.length > 20000) err = err.slice(-20000);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
      await gone;
      clearTimeout(t);
    }
    children.delete(proc);
    rmSync(data, { recursive: true, force: true });
  };
  onCleanup(stop);
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`weir local did not print its Dashboard line within ${timeoutMs} ms; stderr:\n${err}`)), timeoutMs);
    proc.stdout.on('data', (d) => {
      out += d;
      if (/Dashboard/.test(out)) {
        clearTimeout(t);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`weir local exited (${code}) before it was ready; stderr:\n${err}`));
    });
  });
  return { url, port, data, proc, stop, token, stderr: () => err };
}

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.woff2': 'font/woff2' };

/**
 * The URL of the dashboard for a cluster: the cluster's own when it serves
 * the current build (WEIR_UI=embedded forces it), else a local server with
 * ui/dist and a proxy to the cluster's API (WEIR_UI=dist forces it).
 */
export async function dashboardURL(cluster) {
  const dist = path.join(UI, 'dist');
  const index = path.join(dist, 'index.html');
  if (!existsSync(index)) throw new Error('ui/dist/index.html is missing: run `npm run build` first');
  const want = process.env.WEIR_UI ?? 'auto';
  if (want !== 'dist') {
    const served = await (await fetch(cluster.url + '/')).text();
    if (want === 'embedded' || served === readFileSync(index, 'utf8')) {
      console.log(`# dashboard: embedded in ${WEIR_BIN}`);
      return cluster.url;
    }
  }
  const target = new URL(cluster.url);
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    if (req.method === 'GET' && (p === '/' || p === '/index.html' || p.startsWith('/assets/'))) {
      const file = path.join(dist, p === '/' ? 'index.html' : p);
      if (!file.startsWith(dist) || !existsSync(file) || !statSync(file).isFile()) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream' });
      createReadStream(file).pipe(res);
      return;
    }
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [`proxy: ${e.message}`] }));
    });
    req.pipe(up);
    res.on('close', () => up.destroy());
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  onCleanup(
    () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  );
  console.log(`# dashboard: ui/dist served on 127.0.0.1:${port}, API proxied to ${cluster.url} (the weir binary embeds another build)`);
  return `http://127.0.0.1:${port}`;
}

/** Chromium with a fresh profile; a 1440x900 page. */
export async function launchBrowser({ colorScheme = 'light' } = {}) {
  const profile = tmpdir('weir-ui-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-dev-shm-usage'],
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
    colorScheme,
    timeout: 60_000,
  });
  onCleanup(async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { context, page, errors };
}

/** A 1440x900 screenshot in docs/screenshots/<name>.png. */
export async function shot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.waitForTimeout(250); // let transitions and charts settle
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

/** JSON from the cluster's API, with the cluster's bearer token when it has one. */
export async function api(cluster, p, init) {
  const headers = new Headers(init?.headers);
  if (cluster.token && !headers.has('Authorization')) headers.set('Authorization', `Bearer ${cluster.token}`);
  const res = await fetch(cluster.url + p, { ...init, headers });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${p}: ${res.status} ${text}`);
  return body;
}

export async function uploadViaAPI(cluster, file) {
  const form = new FormData();
  form.append('wasmfile', new Blob([readFileSync(file)]), path.basename(file));
  return api(cluster, '/wasm/upload', { method: 'POST', body: form });
}

export async function runViaAPI(cluster, id, body) {
  return api(cluster, `/wasm/${id}/run`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

/** Polls fn until it returns a truthy value. */
export async function until(fn, { timeoutMs = 30_000, everyMs = 200, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}
