import type { JobOverview, TaskManager, TaskManagerDetails } from '../api';
import { Card, Empty, ErrorBanner, KV, Loading, Meter, Stat } from '../components/common';
import { fmtBytes, fmtDuration, shortId } from '../format';
import { useLive } from '../live';

function heartbeat(ms: number) {
  const tone = ms > 10000 ? 'failed' : ms > 3000 ? 'warn' : 'ok';
  return <span class={`hb hb-${tone}`}>{fmtDuration(ms)} ago</span>;
}

function memory(tm: TaskManager) {
  const m = tm.memory;
  if (!m) return <span class="muted">–</span>;
  return (
    <span class="nowrap" title={`RSS ${fmtBytes(m.rss)} · Go heap in use ${fmtBytes(m.heapInUse)} · WebAssembly memory ${fmtBytes(m.wasm)}`}>
      {fmtBytes(m.rss)} <span class="muted small">rss</span> · {fmtBytes(m.wasm)} <span class="muted small">wasm</span>
    </span>
  );
}

export function TaskManagersPage() {
  const tms = useLive<{ taskmanagers: TaskManager[] }>('/taskmanagers');
  const list = (tms.data?.taskmanagers ?? []).slice().sort((a, b) => a.id.localeCompare(b.id));
  const slots = list.reduce((a, t) => a + t.slotsNumber, 0);
  const free = list.reduce((a, t) => a + t.freeSlots, 0);
  return (
    <div class="page">
      <header class="page-head">
        <h1>TaskManagers</h1>
        {tms.data && (
          <span class="muted">
            {list.length} registered · {slots - free}/{slots} slots in use
          </span>
        )}
      </header>
      <ErrorBanner messages={tms.error} title="Could not read the TaskManagers" />
      <Card>
        {!tms.data ? (
          <Loading />
        ) : !list.length ? (
          <Empty>No TaskManager has registered.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table" data-testid="taskmanagers">
              <thead>
                <tr>
                  <th>TaskManager</th>
                  <th>Data address</th>
                  <th>Slots (free / total)</th>
                  <th class="num">Tasks</th>
                  <th>Memory</th>
                  <th>Hardware</th>
                  <th>Heartbeat</th>
                </tr>
              </thead>
              <tbody>
                {list.map((t) => (
                  <tr key={t.id} data-tm={t.id}>
                    <td>
                      <a href={`#/taskmanagers/${encodeURIComponent(t.id)}`} class="mono strong nowrap">
                        {t.id}
                      </a>
                    </td>
                    <td class="mono">{t.dataAddress}</td>
                    <td>
                      <span class="slots">
                        <Meter value={t.slotsNumber ? (t.slotsNumber - t.freeSlots) / t.slotsNumber : 0} />
                        <span class="num">
                          {t.freeSlots} / {t.slotsNumber}
                        </span>
                      </span>
                    </td>
                    <td class="num">{t.tasksRunning ?? '–'}</td>
                    <td>{memory(t)}</td>
                    <td class="nowrap">
                      {t.hardware.cpuCores} cores · {fmtBytes(t.hardware.physicalMemory)}
                    </td>
                    <td>{heartbeat(t.timeSinceLastHeartbeat)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </div>
  );
}

/** "jid/vertex#subtask@attempt" → its parts. */
function parseExec(e: string): { jid: string; vertex: string; subtask: string; attempt: string } | null {
  const m = /^([0-9a-f]+)\/(.+)#(\d+)@(\d+)$/.exec(e);
  return m ? { jid: m[1], vertex: m[2], subtask: m[3], attempt: m[4] } : null;
}

export function TaskManagerPage({ id }: { id: string }) {
  const tm = useLive<TaskManagerDetails>(`/taskmanagers/${encodeURIComponent(id)}`);
  const jobs = useLive<{ jobs: JobOverview[] }>('/jobs/overview');
  const names = new Map((jobs.data?.jobs ?? []).map((j) => [j.jid, j]));
  const t = tm.data;
  return (
    <div class="page" data-testid="taskmanager-page">
      <header class="page-head">
        <div>
          <div class="crumbs">
            <a href="#/taskmanagers">TaskManagers</a> / <span class="mono">{id}</span>
          </div>
          <h1><span class="mono">{id}</span></h1>
        </div>
      </header>
      <ErrorBanner messages={tm.error} title={tm.status === 404 ? 'No such TaskManager (it may have left the cluster)' : 'Could not read the TaskManager'} />
      {!t ? (
        !tm.error && <Loading />
      ) : (
        <>
          <div class="stats">
            <Stat label="Slots free" value={<span>{t.freeSlots} <span class="muted">/ {t.slotsNumber}</span></span>} sub={<Meter value={t.slotsNumber ? (t.slotsNumber - t.freeSlots) / t.slotsNumber : 0} />} />
            <Stat label="Tasks running" value={t.tasksRunning ?? t.slots.reduce((a, s) => a + s.executionIds.length, 0)} />
            <Stat label="Last heartbeat" value={heartbeat(t.timeSinceLastHeartbeat)} />
            <Stat label="CPU cores" value={t.hardware.cpuCores} />
            <Stat label="Physical memory" value={fmtBytes(t.hardware.physicalMemory)} />
          </div>
          <div class="grid-2">
            <Card title="Memory">
              {t.memory ? (
                <KV
                  rows={[
                    ['Resident set (RSS)', fmtBytes(t.memory.rss)],
                    ['Go heap in use', fmtBytes(t.memory.heapInUse)],
                    ['WebAssembly linear memory', fmtBytes(t.memory.wasm)],
                  ]}
                />
              ) : (
                <Empty>Not reported by this JobManager.</Empty>
              )}
            </Card>
            <Card title="Addresses and hardware">
              <KV
                rows={[
                  ['RPC address', <span class="mono">{t.path}</span>],
                  ['Data address', <span class="mono">{t.dataAddress}</span>],
                  ['CPU cores', t.hardware.cpuCores],
                  ['Physical memory', fmtBytes(t.hardware.physicalMemory)],
                ]}
              />
            </Card>
          </div>
          <Card title={`Slots (${t.slots.length})`}>
            <div class="table-wrap">
              <table class="table" data-testid="tm-slots">
                <thead>
                  <tr>
                    <th class="num">Slot</th>
                    <th>Job</th>
                    <th>Tasks</th>
                  </tr>
                </thead>
                <tbody>
                  {t.slots.map((s) => {
                    const j = s.jobId ? names.get(s.jobId) : undefined;
                    return (
                      <tr key={s.index} data-slot={s.index} class={s.jobId ? '' : 'muted-row'}>
                        <td class="num">{s.index}</td>
                        <td>
                          {s.jobId ? (
                            <a href={`#/jobs/${s.jobId}`}>
                              {j ? <span class="strong">{j.name}</span> : null} <span class="mono small muted">{shortId(s.jobId, 12)}</span>
                            </a>
                          ) : (
                            <span class="muted">free</span>
                          )}
                        </td>
                        <td>
                          <div class="chips">
                            {s.executionIds.map((e) => {
                              const p = parseExec(e);
                              return p ? (
                                <a key={e} class="chip" href={`#/jobs/${p.jid}?vertex=${encodeURIComponent(p.vertex)}`} title={e}>
                                  {p.vertex} <span class="muted">#{p.subtask}</span>
                                  {p.attempt !== '0' && <span class="muted"> (attempt {p.attempt})</span>}
                                </a>
                              ) : (
                                <span key={e} class="chip mono">
                                  {e}
                                </span>
                              );
                            })}
                          </div>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          </Card>
        </>
      )}
    </div>
  );
}
