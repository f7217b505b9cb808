// A synthetic wide job for the dashboard's performance test: the answers of
// GET /jobs/:id for a job of V vertices at parallelism P, shaped like the
// real JobManager's (the same fields, counters that grow, busy and
// backpressure that move), served with ui/dist by a small server that
// streams them over /events like the JobManager and forwards every other
// request to a real cluster.

import { createReadStream, existsSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort, onCleanup, UI } from './harness.mjs';

const STRATEGIES = ['FORWARD', 'REBALANCE', 'HASH'];

export function syntheticJob(jid, p, nv) {
  const start = Date.now();
  const ids = Array.from({ length: nv }, (_, i) => `op${i}`);
  // A chain with a side branch joining back, so the layout has more than one rank width.
  const nodes = ids.map((id, i) => ({
    id,
    description: i === 0 ? 'Source: sequence' : i === nv - 1 ? `Sink: file` : `${['Map', 'Filter', 'KeyedProcess'][i % 3]}: stage${i}`,
    parallelism: p,
    operator: i === 0 ? 'source' : i === nv - 1 ? 'sink' : ['map', 'filter', 'process'][i % 3],
    ...(i === 0 ? {} : { inputs: [{ id: ids[i === 3 ? 1 : i - 1], ship_strategy: STRATEGIES[i % 3] }, ...(i === 4 ? [{ id: ids[2], ship_strategy: 'HASH' }] : [])] }),
  }));
  let tick = 0;
  return () => {
    tick++;
    const now = Date.now();
    const counts = { CANCELED: 0, CANCELING: 0, CREATED: 0, DEPLOYING: 0, FAILED: 0, FINISHED: 0, RUNNING: nv * p };
    const vertices = nodes.map((n, vi) => {
      const subtasks = Array.from({ length: p }, (_, s) => {
        const rec = tick * 1000 * (1 + ((s + vi) % 7));
        const busy = (tick * 37 + s * 13 + vi * 101) % 1000;
        const bp = vi === 2 ? 1000 - busy : 0;
        return {
          subtask: s,
          status: 'RUNNING',
          attempt: 0,
          'taskmanager-id': `local-taskmanager-${s % 2}`,
          metrics: {
            'read-bytes': rec * 16,
            'read-records': rec,
            'write-bytes': rec * 16,
            'write-records': rec,
            'busy-ms-per-second': busy,
            'idle-ms-per-second': 1000 - busy - bp,
            'backpressured-ms-per-second': bp,
            'read-records-per-second': 1000 * (1 + ((s + vi) % 7)),
            'write-records-per-second': 1000 * (1 + ((s + vi) % 7)),
            // Event time after the source: each subtask's watermark a little behind the clock.
            ...(vi > 0 ? { watermark: now - 800 - vi * 120 - (s % 5) * 40 } : {}),
          },
        };
      });
      const sum = (k) => subtasks.reduce((a, st) => a + st.metrics[k], 0);
      const max = (k) => subtasks.reduce((a, st) => Math.max(a, st.metrics[k]), 0);
      return {
        id: n.id,
        name: n.description,
        parallelism: p,
        maxParallelism: 1024,
        status: 'RUNNING',
        'start-time': start,
        'end-time': -1,
        duration: now - start,
        tasks: { ...counts, RUNNING: p },
        metrics: {
          'read-bytes': sum('read-bytes'),
          'read-records': sum('read-records'),
          'write-bytes': sum('write-bytes'),
          'write-records': sum('write-records'),
          'busy-ms-per-second': max('busy-ms-per-second'),
          'idle-ms-per-second': max('idle-ms-per-second'),
          'backpressured-ms-per-second': max('backpressured-ms-per-second'),
          'read-records-per-second': sum('read-records-per-second'),
          'write-records-per-second': sum('write-records-per-second'),
          ...(vi > 0 ? { watermark: subtasks.reduce((a, st) => Math.min(a, st.metrics.watermark), Infinity) } : {}),
        },
        subtasks,
      };
    });
    return {
      jid,
      name: `synthetic-wide-p${p}-v${nv}`,
      state: 'RUNNING',
      'start-time': start,
      'end-time': -1,
      duration: now - start,
      now,
      maxParallelism: 1024,
      timestamps: { CREATED: start, RUNNING: start },
      'status-counts': counts,
      vertices,
      plan: { jid, name: `synthetic-wide-p${p}-v${nv}`, nodes },
      attempt: 0,
    };
  };
}

/** Serves ui/dist; /jobs/<jid>[/...] are the synthetic job's; everything else goes to the cluster. */
export async function syntheticServer(cluster, jid, p, nv) {
  const next = syntheticJob(jid, p, nv);
  let current = next();
  const timer = setInterval(() => (current = next()), 1000);
  const dist = path.join(UI, 'dist');
  const mine = (pth) => pth === `/jobs/${jid}` || pth.startsWith(`/jobs/${jid}/`);
  const local = (pth) => {
    if (pth === `/jobs/${jid}`) return current;
    if (pth === `/jobs/${jid}/exceptions`) return { 'root-exception': null, timestamp: null, exceptionHistory: { entries: [], truncated: false } };
    return { errors: ['Not Found'] };
  };
  const remote = async (pth) => {
    const r = await fetch(cluster.url + pth);
    return { status: r.status, body: await r.json().catch(() => null) };
  };
  const server = http.createServer(async (req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/' || u.pathname.startsWith('/assets/')) {
      const file = path.join(dist, u.pathname === '/' ? 'index.html' : u.pathname);
      if (!existsSync(file) || !statSync(file).isFile()) return res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': file.endsWith('.html') ? 'text/html' : file.endsWith('.css') ? 'text/css' : 'text/javascript' });
      return createReadStream(file).pipe(res);
    }
    if (u.pathname === '/events') {
      const watch = u.searchParams.getAll('watch');
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.write('retry: 1000\n\n');
      const last = new Map();
      const send = async () => {
        for (const w of watch) {
          const a = mine(w) ? { status: w === `/jobs/${jid}` ? 200 : 404, body: local(w) } : await remote(w).catch(() => null);
          if (!a) continue;
          const data = JSON.stringify({ path: w, status: a.status, body: a.body });
          if (last.get(w) === data) continue;
          last.set(w, data);
          res.write(`event: update\ndata: ${data}\n\n`);
        }
      };
      // The page may close the stream while the first answers are fetched:
      // listen for that first, or the interval outlives the stream (and keeps
      // the test process from exiting).
      let closed = false;
      let t;
      res.on('close', () => {
        closed = true;
        clearInterval(t);
      });
      await send();
      if (!closed) t = setInterval(send, 1000);
      return;
    }
    if (mine(u.pathname)) {
      const body = local(u.pathname);
      res.writeHead(body.errors ? 404 : 200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify(body));
    }
    const r = await fetch(cluster.url + req.url, { method: req.method }).catch(() => null);
    if (!r) return res.writeHead(502).end();
    res.writeHead(r.status, { 'Content-Type': r.headers.get('content-type') ?? 'application/json' });
    res.end(Buffer.from(await r.arrayBuffer()));
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  onCleanup(
    () =>
      new Promise((r) => {
        clearInterval(timer);
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${port}`, job: () => current };
}
