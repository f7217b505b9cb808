import { useMemo } from 'preact/hooks';
import type { CheckpointConfig, Checkpoints, CheckpointStats, JobConfig, JobDetails, JobExceptions, Subtask, Vertex } from '../api';
import { TERMINAL_JOB } from '../api';
import { Card, Empty, ErrorBanner, KV, Loading, Meter, StateBadge, Stat, Tabs, VirtualRows } from '../components/common';
import { RateChart } from '../components/chart';
import { JobGraph } from '../components/graph';
import { JobActions, SavepointStatus } from '../components/jobactions';
import { fmtBytes, fmtClock, fmtCount, fmtDuration, fmtRate, fmtTime, shortId } from '../format';
import { useLive, useTick } from '../live';
import { navigate } from '../router';
import { record, type History } from '../throughput';

export function JobPage({ jid, tab, vertex }: { jid: string; tab: string; vertex: string | null }) {
  const job = useLive<JobDetails>(`/jobs/${jid}`);
  const exc = useLive<JobExceptions>(`/jobs/${jid}/exceptions`);
  const j = job.data;
  const hist = useMemo(() => (j ? record(j) : undefined), [j]);
  const now = useTick(1000);
  const nExc = exc.data?.exceptionHistory.entries.length ?? 0;

  if (!j) {
    return (
      <div class="page">
        <header class="page-head">
          <h1>
            Job <span class="mono">{jid}</span>
          </h1>
        </header>
        {job.error ? <ErrorBanner messages={job.error} title="Could not read the job" /> : <Loading what="the job" />}
      </div>
    );
  }
  const running = !TERMINAL_JOB.has(j.state);
  // The duration ticks between answers while the job runs (JobManager clock + local elapsed time).
  const duration = running && j['start-time'] > 0 ? j.duration + Math.max(0, now - (job.at ?? now)) : j.duration;
  const base = `#/jobs/${jid}`;
  const tabs = [
    { id: 'overview', label: 'Overview', href: base },
    { id: 'checkpoints', label: 'Checkpoints', href: `${base}/checkpoints` },
    { id: 'exceptions', label: nExc ? <span>Exceptions <span class="count">{nExc}</span></span> : 'Exceptions', href: `${base}/exceptions` },
    { id: 'configuration', label: 'Configuration', href: `${base}/configuration` },
  ];
  const subtasks = Object.values(j['status-counts']).reduce((a, b) => a + b, 0);
  const sel = vertex && j.vertices.some((v) => v.id === vertex) ? vertex : j.vertices[0]?.id;

  return (
    <div class="page job-page" data-jid={jid}>
      <header class="page-head job-head">
        <div>
          <div class="crumbs">
            <a href="#/jobs">Jobs</a> / <span class="mono">{shortId(jid, 12)}</span>
          </div>
          <h1>
            <span data-testid="job-name">{j.name}</span> <StateBadge state={j.state} />
          </h1>
          <div class="job-meta muted">
            <span class="mono" title="Job id">{jid}</span>
            <span>Started {fmtTime(j['start-time'])}</span>
            <span>Duration {fmtDuration(duration)}</span>
            {j['end-time'] > 0 && <span>Ended {fmtTime(j['end-time'])}</span>}
            <span>
              {j.vertices.length} vertices · {fmtCount(subtasks)} subtasks ({j['status-counts'].RUNNING} running) · max parallelism {j.maxParallelism}
            </span>
            {j.attempt > 0 && <span class="warn-text">{j.attempt} restart{j.attempt > 1 ? 's' : ''}</span>}
          </div>
        </div>
        <JobActions jid={jid} state={j.state} />
      </header>
      <SavepointStatus jid={jid} />
      <ErrorBanner messages={job.error} title="The last update failed (showing the previous answer)" />
      <Tabs tabs={tabs} active={tab} />
      {tab === 'checkpoints' ? (
        <CheckpointsTab jid={jid} />
      ) : tab === 'exceptions' ? (
        <ExceptionsTab exc={exc.data} error={exc.error} />
      ) : tab === 'configuration' ? (
        <ConfigTab jid={jid} job={j} />
      ) : (
        <OverviewTab job={j} hist={hist!} selected={sel} />
      )}
    </div>
  );
}

// --- overview: graph, subtasks, throughput, watermarks ---------------------

function OverviewTab({ job, hist, selected }: { job: JobDetails; hist: History; selected?: string }) {
  const v = job.vertices.find((x) => x.id === selected);
  return (
    <div class="stack">
      <Card title="Job graph">
        <JobGraph
          plan={job.plan.nodes}
          vertices={job.vertices}
          rates={hist.vertex}
          selected={selected}
          onSelect={(id) => navigate(`/jobs/${job.jid}?vertex=${encodeURIComponent(id)}`, true)}
        />
      </Card>
      {v && <SubtasksCard v={v} hist={hist} now={job.now} />}
      <Watermarks job={job} />
      <Card title="Throughput">
        <div class="grid-2">
          <RateChart title="Records in per second" t={hist.t} series={job.vertices.map((x) => ({ label: x.name, data: hist.ins.get(x.id) ?? [] }))} version={hist.version} testid="chart-in" />
          <RateChart title="Records out per second" t={hist.t} series={job.vertices.map((x) => ({ label: x.name, data: hist.outs.get(x.id) ?? [] }))} version={hist.version} testid="chart-out" />
        </div>
      </Card>
    </div>
  );
}

function Ms({ v, tone }: { v: number; tone: string }) {
  return (
    <span class="ms">
      <Meter value={v / 1000} tone={tone} />
      <span class="num">{v}</span>
    </span>
  );
}

function SubtasksCard({ v, hist, now }: { v: Vertex; hist: History; now: number }) {
  const wm = v.subtasks.some((s) => typeof s.metrics.watermark === 'number');
  const cols = wm ? 14 : 13;
  return (
    <Card
      title={
        <span>
          Subtasks of <span class="strong">{v.name}</span> <StateBadge state={v.status} />
        </span>
      }
      actions={<span class="muted">parallelism {v.parallelism} · max {v.maxParallelism} · {fmtDuration(v.duration)} · times in ms/s</span>}
    >
      <VirtualRows<Subtask>
        rows={v.subtasks}
        rowHeight={33}
        maxHeight={440}
        colSpan={cols}
        testid="subtasks"
        head={
          <tr>
            <th class="num">#</th>
            <th>Status</th>
            <th class="num">Attempt</th>
            <th>TaskManager</th>
            <th class="num">Rec. in</th>
            <th class="num">Rec. out</th>
            <th class="num">Bytes in</th>
            <th class="num">Bytes out</th>
            <th class="num">In/s</th>
            <th class="num">Out/s</th>
            <th title="Busy milliseconds per second">Busy</th>
            <th title="Idle milliseconds per second">Idle</th>
            <th title="Backpressured milliseconds per second">Backpr.</th>
            {wm && <th>Watermark</th>}
          </tr>
        }
        render={(s) => {
          const m = s.metrics;
          const r = hist.subtask.get(`${v.id}#${s.subtask}`) ?? {};
          return (
            <tr key={s.subtask} class="subtask-row" data-subtask={s.subtask}>
              <td class="num">{s.subtask}</td>
              <td>
                <StateBadge state={s.status} />
              </td>
              <td class="num">{s.attempt}</td>
              <td>{s['taskmanager-id'] ? <a href={`#/taskmanagers/${encodeURIComponent(s['taskmanager-id'])}`} class="mono">{s['taskmanager-id']}</a> : <span class="muted">–</span>}</td>
              <td class="num">{fmtCount(m['read-records'])}</td>
              <td class="num">{fmtCount(m['write-records'])}</td>
              <td class="num">{fmtBytes(m['read-bytes'])}</td>
              <td class="num">{fmtBytes(m['write-bytes'])}</td>
              <td class="num">{fmtRate(r.in)}</td>
              <td class="num">{fmtRate(r.out)}</td>
              <td>
                <Ms v={m['busy-ms-per-second']} tone="busy" />
              </td>
              <td>
                <Ms v={m['idle-ms-per-second']} tone="idle" />
              </td>
              <td>
                <Ms v={m['backpressured-ms-per-second']} tone="bp" />
              </td>
              {wm && <td class="nowrap">{typeof m.watermark === 'number' ? `${fmtClock(m.watermark, true)} (lag ${fmtDuration(now - m.watermark)})` : '–'}</td>}
            </tr>
          );
        }}
      />
    </Card>
  );
}

function Watermarks({ job }: { job: JobDetails }) {
  const rows = job.vertices.filter((v) => typeof v.metrics.watermark === 'number');
  if (!rows.length) return null;
  return (
    <Card title="Watermarks">
      <table class="table compact" data-testid="watermarks">
        <thead>
          <tr>
            <th>Vertex</th>
            <th>Watermark</th>
            <th class="num">Lag behind the JobManager’s clock</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((v) => (
            <tr key={v.id}>
              <td>{v.name}</td>
              <td class="mono">
                {fmtTime(v.metrics.watermark)}.{String(new Date(v.metrics.watermark!).getMilliseconds()).padStart(3, '0')}
              </td>
              <td class="num">{fmtDuration(job.now - v.metrics.watermark!)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

// --- checkpoints --------------------------------------------------------

function CheckpointsTab({ jid }: { jid: string }) {
  const cp = useLive<Checkpoints>(`/jobs/${jid}/checkpoints`);
  const cfg = useLive<CheckpointConfig>(`/jobs/${jid}/checkpoints/config`);
  const c = cp.data;
  return (
    <div class="stack" data-testid="checkpoints-tab">
      <ErrorBanner messages={cp.error} title="Could not read the checkpoints" />
      {!c ? (
        !cp.error && <Loading what="checkpoints" />
      ) : (
        <>
          <div class="stats small-stats" data-testid="checkpoint-counts">
            <Stat label="Triggered" value={c.counts.total} />
            <Stat label="In progress" value={c.counts.in_progress} tone={c.counts.in_progress ? 'running' : undefined} />
            <Stat label="Completed" value={c.counts.completed} tone="finished" />
            <Stat label="Failed" value={c.counts.failed} tone={c.counts.failed ? 'failed' : undefined} />
            <Stat label="Restored" value={c.counts.restored} />
          </div>
          <div class="grid-2">
            <Card title="Latest">
              <KV
                rows={[
                  ['Completed checkpoint', latest(c.latest.completed)],
                  ['Savepoint', latest(c.latest.savepoint)],
                  ['Failed checkpoint', c.latest.failed ? `#${c.latest.failed.id} at ${fmtTime(c.latest.failed.trigger_timestamp)}${c.latest.failed.failure_message ? ': ' + c.latest.failed.failure_message : ''}` : 'None'],
                  ['Restored', c.latest.restored ? `#${c.latest.restored.id} ${(c.latest.restored as { external_path?: string }).external_path ?? ''}` : 'None'],
                ]}
              />
            </Card>
            <Card title="Configuration">
              {cfg.data ? (
                <KV
                  rows={[
                    ['Mode', <span class="mono">{cfg.data.mode}</span>],
                    ['Interval', cfg.data.interval ? fmtDuration(cfg.data.interval) : 'disabled'],
                    ['Timeout', fmtDuration(cfg.data.timeout)],
                    ['Minimum pause', fmtDuration(cfg.data.min_pause)],
                    ['Max concurrent', cfg.data.max_concurrent],
                    ['Retained', cfg.data.retained],
                    ['Tolerable failures', cfg.data.tolerable_failed_checkpoints],
                  ]}
                />
              ) : (
                cfg.error ? <ErrorBanner messages={cfg.error} /> : <Loading />
              )}
            </Card>
          </div>
          <Card title={`History (${c.history.length})`}>
            {c.history.length ? <CheckpointHistory rows={c.history} /> : <Empty>No checkpoint yet{cfg.data?.mode === 'disabled' ? ': checkpointing is disabled for this job (savepoints still work)' : ''}.</Empty>}
          </Card>
        </>
      )}
    </div>
  );
}

function latest(s: CheckpointStats | null) {
  if (!s) return 'None';
  return (
    <span>
      #{s.id} at {fmtTime(s.trigger_timestamp)} · {fmtBytes(s.state_size)} · {fmtDuration(s.end_to_end_duration)}
      {s.external_path && (
        <>
          <br />
          <code class="small">{s.external_path}</code>
        </>
      )}
    </span>
  );
}

function CheckpointHistory({ rows }: { rows: CheckpointStats[] }) {
  return (
    <VirtualRows<CheckpointStats>
      rows={rows}
      rowHeight={33}
      maxHeight={480}
      colSpan={10}
      testid="checkpoint-history"
      head={
        <tr>
          <th class="num">ID</th>
          <th>Status</th>
          <th>Type</th>
          <th>Trigger time</th>
          <th class="num">Duration</th>
          <th class="num">State size</th>
          <th class="num" title="Bytes buffered during alignment">Buffered</th>
          <th class="num" title="Longest alignment of a subtask">Alignment</th>
          <th class="num" title="Longest synchronous / asynchronous part of a subtask">Sync / async</th>
          <th class="num" title="Acknowledged subtasks">Acks</th>
        </tr>
      }
      render={(s) => (
        <tr key={s.id} data-checkpoint={s.id} title={s.external_path ?? s.failure_message ?? ''}>
          <td class="num">{s.id}</td>
          <td>
            <StateBadge state={s.status} />
          </td>
          <td>{s.is_savepoint ? 'Savepoint' : 'Checkpoint'}</td>
          <td class="nowrap">{fmtTime(s.trigger_timestamp)}</td>
          <td class="num">{fmtDuration(s.end_to_end_duration)}</td>
          <td class="num">{fmtBytes(s.state_size)}</td>
          <td class="num">{fmtBytes(s.alignment_buffered)}</td>
          <td class="num">{s.alignment_duration_max != null ? fmtDuration(s.alignment_duration_max) : '–'}</td>
          <td class="num">
            {s.sync_duration_max != null ? fmtDuration(s.sync_duration_max) : '–'} / {s.async_duration_max != null ? fmtDuration(s.async_duration_max) : '–'}
          </td>
          <td class="num">
            {s.num_acknowledged_subtasks}/{s.num_subtasks}
          </td>
        </tr>
      )}
    />
  );
}

// --- exceptions ---------------------------------------------------------

function ExceptionsTab({ exc, error }: { exc?: JobExceptions; error?: string[] }) {
  if (!exc) return error ? <ErrorBanner messages={error} title="Could not read the exceptions" /> : <Loading what="exceptions" />;
  const entries = exc.exceptionHistory.entries;
  return (
    <div class="stack" data-testid="exceptions-tab">
      <Card title="Root exception">
        {exc['root-exception'] ? (
          <div>
            <div class="muted small">{fmtTime(exc.timestamp)}</div>
            <pre class="stack-trace" data-testid="root-exception">
              {exc['root-exception']}
            </pre>
          </div>
        ) : (
          <Empty>No failure: the job has not failed.</Empty>
        )}
      </Card>
      <Card title={`History (${entries.length}${exc.exceptionHistory.truncated ? ', truncated' : ''})`}>
        {!entries.length ? (
          <Empty>No exceptions.</Empty>
        ) : (
          <div class="exc-list" data-testid="exception-history">
            {entries.map((e, i) => (
              <details key={`${e.timestamp}-${i}`} class="exc" open={i === 0}>
                <summary>
                  <span class="nowrap mono small">{fmtTime(e.timestamp)}</span>
                  <span class="badge state-failed">{e.exceptionName}</span>
                  <span class="strong">{e.taskName}</span>
                  <span class="muted">
                    on{' '}
                    {e.taskManagerId ? (
                      <a href={`#/taskmanagers/${encodeURIComponent(e.taskManagerId)}`} class="mono">
                        {e.location || e.taskManagerId}
                      </a>
                    ) : (
                      e.location || '–'
                    )}
                  </span>
                </summary>
                <pre class="stack-trace">{e.stacktrace}</pre>
                {e.guestLogs && e.guestLogs.length > 0 && (
                  <div class="guest-logs">
                    <div class="small strong">Guest logs (the module’s last lines)</div>
                    <pre class="logs" data-testid="guest-logs">
                      {e.guestLogs.join('\n')}
                    </pre>
                  </div>
                )}
              </details>
            ))}
          </div>
        )}
      </Card>
    </div>
  );
}

// --- configuration ------------------------------------------------------

function ConfigTab({ jid, job }: { jid: string; job: JobDetails }) {
  const cfg = useLive<JobConfig>(`/jobs/${jid}/config`);
  const cp = useLive<CheckpointConfig>(`/jobs/${jid}/checkpoints/config`);
  const c = cfg.data;
  const ec = c?.['execution-config'];
  const user = ec?.['user-config'] ?? {};
  return (
    <div class="stack" data-testid="config-tab">
      <div class="grid-2">
        <Card title="Job">
          <KV
            rows={[
              ['Name', job.name],
              ['Job id', <span class="mono">{jid}</span>],
              ['Module', c?.module ? <span>{c.module.name} <span class="mono muted small">{shortId(c.module.id, 16)}</span></span> : '–'],
              ['Program arguments', c?.programArgs ? <code class="args">{c.programArgs.map((a) => (/[\s"']/.test(a) || !a ? JSON.stringify(a) : a)).join(' ') || '(none)'}</code> : '–'],
              ['Job parallelism', ec?.['job-parallelism'] ?? '–'],
              ['Max parallelism', ec?.['max-parallelism'] ?? job.maxParallelism],
              ['Restart strategy', ec?.['restart-strategy'] ?? '–'],
              ['Checkpoint interval', ec?.['checkpoint-interval'] != null ? (typeof ec['checkpoint-interval'] === 'number' ? (ec['checkpoint-interval'] > 0 ? fmtDuration(ec['checkpoint-interval']) : 'disabled') : String(ec['checkpoint-interval'])) : cp.data ? (cp.data.interval ? fmtDuration(cp.data.interval) : 'disabled') : '–'],
            ]}
          />
          {cfg.error && cfg.status === 404 && <p class="muted small">This JobManager does not serve /jobs/:id/config; showing what the job details tell.</p>}
          {cfg.error && cfg.status !== 404 && <ErrorBanner messages={cfg.error} />}
        </Card>
        <Card title="Vertices">
          <table class="table compact">
            <thead>
              <tr>
                <th>Vertex</th>
                <th>Operator</th>
                <th class="num">Parallelism</th>
                <th>Inputs</th>
              </tr>
            </thead>
            <tbody>
              {job.plan.nodes.map((n) => (
                <tr key={n.id}>
                  <td>
                    <span class="strong">{n.description}</span> <span class="mono muted small">{n.id}</span>
                  </td>
                  <td>{n.operator}</td>
                  <td class="num">{n.parallelism}</td>
                  <td class="small">{(n.inputs ?? []).map((i) => `${i.id} (${i.ship_strategy})`).join(', ') || '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      </div>
      <Card title="User configuration">
        {Object.keys(user).length ? (
          <table class="table compact" data-testid="user-config">
            <thead>
              <tr>
                <th>Key</th>
                <th>Value</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(user)
                .sort(([a], [b]) => a.localeCompare(b))
                .map(([k, v]) => (
                  <tr key={k}>
                    <td class="mono">{k}</td>
                    <td class="mono">{String(v)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        ) : (
          <Empty>{c ? 'No user configuration.' : 'Not reported by this JobManager.'}</Empty>
        )}
      </Card>
    </div>
  );
}
