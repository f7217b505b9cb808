import type { ClusterLeader, ClusterOverview, Config, JobOverview, LeaderMember } from '../api';
import { Card, Empty, ErrorBanner, KV, Loading, Meter, Stat } from '../components/common';
import { fmtClock, fmtDuration, fmtTime } from '../format';
import { useLive, useTick } from '../live';
import { JobsTable, splitJobs } from './jobs';

function HA({ leader }: { leader?: ClusterLeader; error?: string[] }) {
  const now = useTick(1000);
  if (!leader) return <Loading />;
  const l = leader.leader;
  const history = leader.history;
  return (
    <div class="ha">
      <div class="ha-leader" data-testid="ha-leader">
        {l ? (
          <>
            <div class="ha-crown">
              <span class="badge state-running">LEADER</span>
              <span class="mono strong" data-testid="ha-leader-id">
                {l.id}
              </span>
            </div>
            <KV
              rows={[
                ['Cluster', leader.cluster],
                ['Epoch', <span data-testid="ha-epoch">{l.epoch}</span>],
                ['REST address', <span class="mono">{l.restAddress}</span>],
                ['RPC address', <span class="mono">{l.rpcAddress ?? '–'}</span>],
                ['Leading since', l.since ? `${fmtTime(l.since)} (${fmtDuration(now - l.since)})` : '–'],
                ['This page is served by', <span class="mono">{leader.self}{leader.self === l.id ? ' (the leader)' : ' (a standby, forwarding)'}</span>],
              ]}
            />
          </>
        ) : (
          <div class="banner banner-warn">No leader: an election is under way.</div>
        )}
      </div>
      <div class="ha-standbys">
        <h3>Standbys ({leader.standbys.length})</h3>
        {leader.standbys.length ? (
          <table class="table compact">
            <thead>
              <tr>
                <th>JobManager</th>
                <th>REST address</th>
              </tr>
            </thead>
            <tbody>
              {leader.standbys.map((s) => (
                <tr key={s.id}>
                  <td class="mono">{s.id}</td>
                  <td class="mono">{s.restAddress}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <Empty>No standby JobManager: a failure of this one stops the cluster until it is back.</Empty>
        )}
      </div>
      <div class="ha-history">
        <h3>Leadership history</h3>
        {history ? <LeaderHistory history={history} now={now} /> : <Empty>This JobManager does not report its leadership history.</Empty>}
      </div>
    </div>
  );
}

function LeaderHistory({ history, now }: { history: LeaderMember[]; now: number }) {
  if (!history.length) return <Empty>No leadership recorded yet.</Empty>;
  return (
    <div class="table-wrap">
    <table class="table compact" data-testid="ha-history">
      <thead>
        <tr>
          <th class="num">Epoch</th>
          <th>JobManager</th>
          <th>Since</th>
          <th>Until</th>
          <th class="num">Held</th>
        </tr>
      </thead>
      <tbody>
        {history.map((h) => (
          <tr key={`${h.epoch}-${h.id}`} class={h.until ? '' : 'current'}>
            <td class="num">{h.epoch}</td>
            <td class="mono">{h.id}</td>
            <td class="nowrap">{fmtTime(h.since)}</td>
            <td class="nowrap">{h.until ? (h.since && sameDay(h.since, h.until) ? fmtClock(h.until) : fmtTime(h.until)) : <span class="badge state-running">current</span>}</td>
            <td class="num">{h.since ? fmtDuration((h.until || now) - h.since) : '–'}</td>
          </tr>
        ))}
      </tbody>
    </table>
    </div>
  );
}

const sameDay = (a: number, b: number) => new Date(a).toDateString() === new Date(b).toDateString();

export function OverviewPage() {
  const ov = useLive<ClusterOverview>('/overview');
  const leader = useLive<ClusterLeader>('/cluster/leader');
  const jobs = useLive<{ jobs: JobOverview[] }>('/jobs/overview');
  const config = useLive<Config>('/config');
  const o = ov.data;
  const { running, done } = splitJobs(jobs.data?.jobs ?? []);
  return (
    <div class="page">
      <header class="page-head">
        <h1>Cluster overview</h1>
        {o && <span class="muted">Weir {o['weir-version']} · up {fmtDuration(o['uptime-ms'])}{config.data ? ` · ABI v${config.data['abi-versions'].join(', v')}` : ''}</span>}
      </header>
      <ErrorBanner messages={ov.error} title="Could not read the cluster overview" />
      {o ? (
        <div class="stats" data-testid="overview-stats">
          <Stat label="TaskManagers" value={<a href="#/taskmanagers">{o.taskmanagers}</a>} />
          <Stat
            label="Slots available"
            value={
              <span>
                {o['slots-available']} <span class="muted">/ {o['slots-total']}</span>
              </span>
            }
            sub={<Meter value={o['slots-total'] ? (o['slots-total'] - o['slots-available']) / o['slots-total'] : 0} />}
          />
          <Stat label="Running jobs" value={o['jobs-running']} tone={o['jobs-running'] ? 'running' : undefined} />
          <Stat label="Finished" value={o['jobs-finished']} tone="finished" />
          <Stat label="Canceled" value={o['jobs-cancelled']} tone="canceled" />
          <Stat label="Failed" value={o['jobs-failed']} tone={o['jobs-failed'] ? 'failed' : undefined} />
        </div>
      ) : (
        !ov.error && <Loading />
      )}
      <div class="grid-2">
        <Card title="High availability">
          <ErrorBanner messages={leader.error} />
          <HA leader={leader.data} />
        </Card>
        <div class="stack">
          <Card title={`Running jobs (${running.length})`} actions={<a href="#/jobs">All jobs →</a>}>
            {jobs.data ? <JobsTable jobs={running} compact testid="overview-running" /> : <Loading />}
          </Card>
          <Card title="Recently completed">
            {jobs.data ? <JobsTable jobs={done.slice(0, 5)} compact testid="overview-completed" /> : <Loading />}
          </Card>
        </div>
      </div>
    </div>
  );
}
