// Per-job samples of the live job details: records in/out per second of
// every vertex over time (for the charts) and of every subtask (for the
// table). The server's "read-records-per-second"/"write-records-per-second"
// are used where it sends them; otherwise rates come from the difference of
// the record counters between two answers, over the JobManager's clock
// ("now"). Kept per job while the tab is open, so the charts do not start
// from nothing when coming back to a job.

import type { JobDetails, Metrics } from './api';

const KEEP = 600; // samples (10 minutes at one a second)

export interface Rate {
  in?: number;
  out?: number;
}

export interface History {
  /** JobManager time of each sample, seconds. */
  t: number[];
  /** Vertex id → records in per second, aligned with t (null: unknown). */
  ins: Map<string, (number | null)[]>;
  outs: Map<string, (number | null)[]>;
  /** Vertex id → the latest rates. */
  vertex: Map<string, Rate>;
  /** "vertex#subtask" → the latest rates. */
  subtask: Map<string, Rate>;
  lastNow: number;
  prev: Map<string, [number, number]>;
  version: number;
}

const jobs = new Map<string, History>();

function rates(m: Metrics, key: string, h: History, dt: number): Rate {
  const p = h.prev.get(key);
  h.prev.set(key, [m['read-records'], m['write-records']]);
  const r: Rate = {};
  if (typeof m['read-records-per-second'] === 'number') r.in = m['read-records-per-second'];
  else if (p && dt > 0) r.in = Math.max(0, (m['read-records'] - p[0]) / dt);
  if (typeof m['write-records-per-second'] === 'number') r.out = m['write-records-per-second'];
  else if (p && dt > 0) r.out = Math.max(0, (m['write-records'] - p[1]) / dt);
  return r;
}

/** Adds a job-details answer (once per distinct "now") and returns the job's history. */
export function record(job: JobDetails): History {
  let h = jobs.get(job.jid);
  if (!h) {
    h = { t: [], ins: new Map(), outs: new Map(), vertex: new Map(), subtask: new Map(), lastNow: 0, prev: new Map(), version: 0 };
    jobs.set(job.jid, h);
    if (jobs.size > 8) jobs.delete(jobs.keys().next().value!);
  }
  if (job.now <= h.lastNow) return h;
  const dt = h.lastNow ? (job.now - h.lastNow) / 1000 : 0;
  h.lastNow = job.now;
  h.t.push(job.now / 1000);
  const n = h.t.length;
  for (const v of job.vertices) {
    const r = rates(v.metrics, v.id, h, dt);
    h.vertex.set(v.id, r);
    for (const [map, val] of [
      [h.ins, r.in],
      [h.outs, r.out],
    ] as const) {
      let s = map.get(v.id);
      if (!s) map.set(v.id, (s = new Array(n - 1).fill(null)));
      s.push(val ?? null);
    }
    for (const st of v.subtasks) {
      const key = `${v.id}#${st.subtask}`;
      h.subtask.set(key, rates(st.metrics, key, h, dt));
    }
  }
  // Vertices that vanished keep their columns aligned.
  for (const map of [h.ins, h.outs]) for (const s of map.values()) while (s.length < n) s.push(null);
  if (n > KEEP) {
    const cut = n - KEEP;
    h.t.splice(0, cut);
    for (const map of [h.ins, h.outs]) for (const s of map.values()) s.splice(0, cut);
  }
  h.version++;
  return h;
}
