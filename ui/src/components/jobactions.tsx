import { useState } from 'preact/hooks';
import { ApiError, cancelJob, TERMINAL_JOB } from '../api';
import { refresh } from '../live';
import { dismissSavepoint, startSavepoint, useSavepoint } from '../savepoints';
import { useWriteBlock } from '../auth';
import { blockedProps, ConfirmButton } from './common';
import { fmtDuration } from '../format';

/** Cancel, savepoint and stop-with-savepoint for one job; disabled, with why, for a viewer token. */
export function JobActions({ jid, state, compact }: { jid: string; state: string; compact?: boolean }) {
  const op = useSavepoint(jid);
  const [err, setErr] = useState<string | null>(null);
  const blocked = useWriteBlock();
  if (TERMINAL_JOB.has(state)) return null;
  const busy = op && (op.state === 'TRIGGERING' || op.state === 'IN_PROGRESS');
  const running = state === 'RUNNING';
  const cancel = async () => {
    setErr(null);
    try {
      await cancelJob(jid);
    } catch (e) {
      setErr(e instanceof ApiError ? e.messages.join('; ') : String(e));
    }
    void refresh('/jobs/overview');
    void refresh(`/jobs/${jid}`);
  };
  return (
    <div class={`job-actions ${compact ? 'compact' : ''}`}>
      <button
        class="btn btn-sm"
        disabled={!running || busy}
        onClick={() => !blocked && startSavepoint(jid, 'savepoint')}
        data-testid="action-savepoint"
        {...blockedProps(blocked, 'Trigger a savepoint; the job goes on')}
      >
        Savepoint
      </button>
      <ConfirmButton
        label="Stop"
        confirm="Stop with savepoint?"
        class="btn-sm"
        disabled={!running || busy}
        onConfirm={() => startSavepoint(jid, 'stop')}
        testid="action-stop"
        blocked={blocked}
      />
      <ConfirmButton label="Cancel" confirm="Really cancel?" class="btn-sm btn-danger" disabled={state === 'CANCELING'} onConfirm={cancel} testid="action-cancel" blocked={blocked} />
      {err && (
        <span class="inline-error" role="alert">
          {err}
        </span>
      )}
    </div>
  );
}

/** The progress or result of the last savepoint triggered from this page. */
export function SavepointStatus({ jid }: { jid: string }) {
  const op = useSavepoint(jid);
  if (!op) return null;
  const what = op.kind === 'stop' ? 'Stop with savepoint' : 'Savepoint';
  const took = op.finished ? ` in ${fmtDuration(op.finished - op.started)}` : '';
  return (
    <div class={`savepoint-status sp-${op.state.toLowerCase()}`} data-testid="savepoint-status" data-state={op.state} role="status">
      {(op.state === 'TRIGGERING' || op.state === 'IN_PROGRESS') && (
        <span>
          <span class="spinner" /> {what}: {op.state === 'TRIGGERING' ? 'triggering' : 'in progress'}…
        </span>
      )}
      {op.state === 'COMPLETED' && (
        <span>
          {what} completed{took}. Path: <code class="sp-path">{op.location}</code>
        </span>
      )}
      {op.state === 'FAILED' && (
        <span>
          {what} failed: <span class="sp-error">{op.error}</span>
        </span>
      )}
      {(op.state === 'COMPLETED' || op.state === 'FAILED') && (
        <button class="btn-icon" aria-label="Dismiss" onClick={() => dismissSavepoint(jid)}>
          ×
        </button>
      )}
    </div>
  );
}
