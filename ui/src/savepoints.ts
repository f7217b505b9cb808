// Savepoints triggered from this page (savepoint, stop-with-savepoint): the
// trigger is polled until it completes, and every page showing the job
// shows its progress and result.

import { ApiError, savepointStatus, stopWithSavepoint, triggerSavepoint } from './api';
import { refresh } from './live';
import { useListeners } from './notify';

export interface SavepointOp {
  jid: string;
  kind: 'savepoint' | 'stop';
  trigger?: string;
  state: 'TRIGGERING' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';
  location?: string;
  error?: string;
  started: number;
  finished?: number;
}

const ops = new Map<string, SavepointOp>();
const subs = new Set<() => void>();
const emit = () => subs.forEach((s) => s());

function set(op: SavepointOp) {
  ops.set(op.jid, { ...op });
  emit();
}

export async function startSavepoint(jid: string, kind: 'savepoint' | 'stop', dir?: string): Promise<void> {
  const op: SavepointOp = { jid, kind, state: 'TRIGGERING', started: Date.now() };
  set(op);
  try {
    const r = kind === 'stop' ? await stopWithSavepoint(jid, dir) : await triggerSavepoint(jid, dir);
    op.trigger = r['request-id'];
    op.state = 'IN_PROGRESS';
    set(op);
  } catch (e) {
    op.state = 'FAILED';
    op.error = e instanceof ApiError ? e.messages.join('\n') : String(e);
    op.finished = Date.now();
    set(op);
    return;
  }
  const deadline = Date.now() + 15 * 60_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 400));
    try {
      const s = await savepointStatus(jid, op.trigger!);
      if (s.status?.id === 'COMPLETED') {
        const cause = s.operation?.['failure-cause'];
        if (cause) {
          op.state = 'FAILED';
          op.error = cause['stack-trace'] ?? 'failed';
        } else {
          op.state = 'COMPLETED';
          op.location = s.operation?.location;
        }
        op.finished = Date.now();
        set(op);
        void refresh('/jobs/overview');
        void refresh(`/jobs/${jid}/checkpoints`);
        return;
      }
    } catch (e) {
      // 4xx ends it; anything else (a failover) is retried.
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
        op.state = 'FAILED';
        op.error = e.messages.join('\n');
        op.finished = Date.now();
        set(op);
        return;
      }
    }
  }
  op.state = 'FAILED';
  op.error = 'No answer within 15 minutes.';
  set(op);
}

export function dismissSavepoint(jid: string) {
  ops.delete(jid);
  emit();
}

export function useSavepoint(jid: string): SavepointOp | undefined {
  useListeners(subs);
  return ops.get(jid);
}
