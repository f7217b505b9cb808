import { Fragment } from 'preact';
import type { JobOverview } from '../api';
import { TERMINAL_JOB } from '../api';
import { Card, Empty, ErrorBanner, Loading, StateBadge, TaskBar } from '../components/common';
import { JobActions, SavepointStatus } from '../components/jobactions';
import { fmtDuration, fmtTime, shortId } from '../format';
import { useLive } from '../live';
import { useSavepoint } from '../savepoints';

export function JobsTable({ jobs, actions, compact, testid }: { jobs: JobOverview[]; actions?: boolean; compact?: boolean; testid: string }) {
  const endCol = !actions && !compact;
  if (!jobs.length) return <Empty>No jobs.</Empty>;
  return (
    <div class="table-wrap">
      <table class="table" data-testid={testid}>
        <thead>
          <tr>
            <th>Job</th>
            <th>State</th>
            {!compact && <th>Start time</th>}
            <th class="num">Duration</th>
            {endCol && <th>End time</th>}
            <th>Tasks</th>
            {actions && <th>Actions</th>}
          </tr>
        </thead>
        <tbody>
          {jobs.map((j) => (
            <Fragment key={j.jid}>
              <tr data-jid={j.jid} data-state={j.state} class="job-row">
                <td>
                  <a href={`#/jobs/${j.jid}`} class="job-link">
                    <span class="job-name">{j.name}</span>
                    <span class="mono muted small">{shortId(j.jid, 12)}</span>
                  </a>
                </td>
                <td>
                  <StateBadge state={j.state} />
                </td>
                {!compact && <td class="nowrap">{fmtTime(j['start-time'])}</td>}
                <td class="num nowrap">{fmtDuration(j.duration)}</td>
                {endCol && <td class="nowrap">{fmtTime(j['end-time'])}</td>}
                <td class="tasks-cell">
                  <TaskBar tasks={j.tasks} />
                </td>
                {actions && (
                  <td>
                    <JobActions jid={j.jid} state={j.state} compact />
                  </td>
                )}
              </tr>
              <SavepointRow jid={j.jid} cols={endCol || actions ? 6 : 4} />
            </Fragment>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function SavepointRow({ jid, cols }: { jid: string; cols: number }) {
  if (!useSavepoint(jid)) return null;
  return (
    <tr class="sp-row">
      <td colSpan={cols} class="sp-cell">
        <SavepointStatus jid={jid} />
      </td>
    </tr>
  );
}

export function splitJobs(jobs: JobOverview[]) {
  const running = jobs.filter((j) => !TERMINAL_JOB.has(j.state)).sort((a, b) => b['start-time'] - a['start-time']);
  const done = jobs.filter((j) => TERMINAL_JOB.has(j.state)).sort((a, b) => b['end-time'] - a['end-time']);
  return { running, done };
}

export function JobsPage() {
  const jobs = useLive<{ jobs: JobOverview[] }>('/jobs/overview');
  const { running, done } = splitJobs(jobs.data?.jobs ?? []);
  return (
    <div class="page">
      <header class="page-head">
        <h1>Jobs</h1>
        <a class="btn btn-primary" href="#/submit">
          Submit a job
        </a>
      </header>
      <ErrorBanner messages={jobs.error} title="Could not read the jobs" />
      <Card title={`Running jobs (${running.length})`}>{jobs.data ? <JobsTable jobs={running} actions testid="running-jobs" /> : <Loading />}</Card>
      <Card title={`Completed jobs (${done.length})`}>{jobs.data ? <JobsTable jobs={done} testid="completed-jobs" /> : <Loading />}</Card>
    </div>
  );
}
