// Types of the REST API's answers (docs/openapi.json) and the calls that
// change something. Reads go through live.ts. Every request carries the
// session's bearer token (auth.ts) when there is one; a 401 ends the session.

import { authHeaders, token, unauthorized } from './auth';

export type JobState = 'CREATED' | 'RUNNING' | 'FINISHED' | 'CANCELING' | 'CANCELED' | 'FAILING' | 'FAILED' | 'RESTARTING';
export type ExecState = 'CREATED' | 'DEPLOYING' | 'RUNNING' | 'FINISHED' | 'CANCELING' | 'CANCELED' | 'FAILED';

export const TERMINAL_JOB: ReadonlySet<string> = new Set(['FINISHED', 'CANCELED', 'FAILED']);

export interface Config {
  'refresh-interval': number;
  'timezone-name': string;
  'weir-version': string;
  'abi-versions': number[];
  features: { 'web-submit': boolean; 'web-cancel': boolean };
  'max-upload-bytes': number;
}

export interface ClusterOverview {
  'weir-version': string;
  'uptime-ms': number;
  taskmanagers: number;
  'slots-total': number;
  'slots-available': number;
  'jobs-running': number;
  'jobs-finished': number;
  'jobs-cancelled': number;
  'jobs-failed': number;
}

export interface LeaderMember {
  id: string;
  restAddress: string;
  rpcAddress?: string;
  epoch: number;
  since?: number;
  until?: number;
}

export interface ClusterLeader {
  cluster: string;
  self: string;
  leader: LeaderMember | null;
  standbys: LeaderMember[];
  history?: LeaderMember[];
}

export interface TaskCounts {
  total: number;
  created: number;
  deploying: number;
  running: number;
  finished: number;
  canceling: number;
  canceled: number;
  failed: number;
}

export interface JobOverview {
  jid: string;
  name: string;
  state: JobState;
  'start-time': number;
  'end-time': number;
  duration: number;
  'last-modification': number;
  tasks: TaskCounts;
}

export interface Metrics {
  'read-bytes': number;
  'read-records': number;
  'write-bytes': number;
  'write-records': number;
  'busy-ms-per-second': number;
  'idle-ms-per-second': number;
  'backpressured-ms-per-second': number;
  'read-records-per-second'?: number;
  'write-records-per-second'?: number;
  watermark?: number;
}

export interface Subtask {
  subtask: number;
  status: ExecState;
  attempt: number;
  'taskmanager-id': string;
  metrics: Metrics;
}

export type StateCounts = Record<ExecState, number>;

export interface Vertex {
  id: string;
  name: string;
  parallelism: number;
  maxParallelism: number;
  status: ExecState;
  'start-time': number;
  'end-time': number;
  duration: number;
  tasks: StateCounts;
  metrics: Metrics;
  subtasks: Subtask[];
}

export interface PlanNode {
  id: string;
  description: string;
  parallelism: number;
  operator: string;
  inputs?: { id: string; ship_strategy: string }[];
}

export interface JobDetails {
  jid: string;
  name: string;
  state: JobState;
  'start-time': number;
  'end-time': number;
  duration: number;
  now: number;
  maxParallelism: number;
  timestamps: Partial<Record<JobState, number>>;
  'status-counts': StateCounts;
  vertices: Vertex[];
  plan: { jid: string; name: string; nodes: PlanNode[] };
  attempt: number;
}

export interface ExceptionEntry {
  exceptionName: string;
  stacktrace: string;
  timestamp: number;
  taskName: string;
  location: string;
  taskManagerId: string;
  guestLogs?: string[] | null;
}

export interface JobExceptions {
  'root-exception': string | null;
  timestamp: number | null;
  exceptionHistory: { entries: ExceptionEntry[]; truncated: boolean };
}

export interface CheckpointStats {
  id: number;
  status: string;
  is_savepoint: boolean;
  trigger_timestamp: number;
  latest_ack_timestamp: number;
  end_to_end_duration: number;
  state_size: number;
  alignment_buffered: number;
  sync_duration_max?: number;
  async_duration_max?: number;
  alignment_duration_max?: number;
  num_subtasks: number;
  num_acknowledged_subtasks: number;
  external_path?: string;
  failure_message?: string;
  restore_timestamp?: number;
}

export interface Checkpoints {
  counts: { restored: number; total: number; in_progress: number; completed: number; failed: number };
  latest: {
    completed: CheckpointStats | null;
    savepoint: CheckpointStats | null;
    failed: CheckpointStats | null;
    restored: (CheckpointStats & Record<string, unknown>) | null;
  };
  history: CheckpointStats[];
}

export interface CheckpointConfig {
  interval: number;
  max_concurrent: number;
  min_pause: number;
  mode: string;
  retained: number;
  timeout: number;
  tolerable_failed_checkpoints: number;
  [k: string]: unknown;
}

export interface JobConfig {
  jid: string;
  name: string;
  'execution-config': {
    'job-parallelism'?: number;
    'max-parallelism'?: number;
    'restart-strategy'?: string;
    'checkpoint-interval'?: number | string;
    'user-config'?: Record<string, string>;
    [k: string]: unknown;
  };
  module?: { id: string; name: string };
  programArgs?: string[];
}

export interface Memory {
  rss?: number;
  heapInUse?: number;
  wasm?: number;
}

export interface TaskManager {
  id: string;
  path: string;
  dataAddress: string;
  timeSinceLastHeartbeat: number;
  slotsNumber: number;
  freeSlots: number;
  hardware: { cpuCores: number; physicalMemory: number };
  memory?: Memory;
  tasksRunning?: number;
}

export interface TaskManagerDetails extends TaskManager {
  slots: { index: number; jobId: string; executionIds: string[] }[];
}

export interface WasmFile {
  id: string;
  name: string;
  size: number;
  uploaded: number;
}

export interface RunRequest {
  parallelism?: number;
  programArgs?: string[];
  config?: Record<string, string>;
  savepointPath?: string;
  allowNonRestoredState?: boolean;
}

/** A failed call: the HTTP status and the server's messages. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public messages: string[],
  ) {
    super(messages.join('; ') || `HTTP ${status}`);
  }
}

/** A REST path as a URL relative to the page, so the dashboard also works behind a path prefix. */
export function apiURL(path: string): string {
  return path.startsWith('/') ? path.slice(1) || '.' : path;
}

/** The messages of an error answer: {"errors": [...]} or the raw text. */
export function errorMessages(status: number, text: string): string[] {
  try {
    const body = JSON.parse(text);
    if (body && Array.isArray(body.errors) && body.errors.length) return body.errors.map(String);
  } catch {
    /* not JSON */
  }
  const t = text.trim();
  return [t ? `HTTP ${status}: ${t.slice(0, 300)}` : `HTTP ${status}`];
}

/**
 * One request with the given token (default: the session's). A 401 to the
 * session's token ends the session (the login form shows); pass a token to
 * try one without that (the login form does).
 */
async function request<T>(method: string, path: string, body: unknown, tok: string | null, probe: boolean): Promise<T> {
  let res: Response;
  try {
    res = await fetch(apiURL(path), {
      method,
      headers: { ...authHeaders(tok), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, [`The JobManager did not answer: ${(e as Error).message}`]);
  }
  const text = await res.text();
  if (!res.ok) {
    const msgs = errorMessages(res.status, text);
    if (res.status === 401 && !probe) unauthorized(tok, msgs);
    throw new ApiError(res.status, msgs);
  }
  return (text ? JSON.parse(text) : {}) as T;
}

export function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  return request<T>(method, path, body, token(), false);
}

/** Whether the JobManager accepts a token (null: no token): a cheap read with it; throws the server's refusal. */
export async function checkToken(tok: string | null): Promise<void> {
  await request<unknown>('GET', '/overview', undefined, tok, true);
}

export const runModule = (id: string, req: RunRequest) => call<{ jobid: string }>('POST', `/wasm/${id}/run`, req);
export const deleteModule = (id: string) => call<unknown>('DELETE', `/wasm/${id}`);
export const cancelJob = (jid: string) => call<unknown>('PATCH', `/jobs/${jid}?mode=cancel`);
export const triggerSavepoint = (jid: string, dir?: string) =>
  call<{ 'request-id': string }>('POST', `/jobs/${jid}/savepoints`, dir ? { 'target-directory': dir } : {});
export const stopWithSavepoint = (jid: string, dir?: string) =>
  call<{ 'request-id': string }>('POST', `/jobs/${jid}/stop`, dir ? { targetDirectory: dir } : {});
export const savepointStatus = (jid: string, trigger: string) =>
  call<{ status: { id: string }; operation?: { location?: string; 'failure-cause'?: { 'stack-trace'?: string } } }>(
    'GET',
    `/jobs/${jid}/savepoints/${trigger}`,
  );

export interface UploadHandle {
  abort(): void;
  done: Promise<WasmFile & { filename?: string }>;
}

/** Uploads a module with XMLHttpRequest, for its upload progress events. */
export function uploadModule(file: File, onProgress: (loaded: number, total: number) => void): UploadHandle {
  const xhr = new XMLHttpRequest();
  const tok = token();
  const done = new Promise<WasmFile>((resolve, reject) => {
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, ['The JobManager answered the upload with something that is not JSON.']));
        }
      } else {
        const msgs = errorMessages(xhr.status, xhr.responseText);
        if (xhr.status === 401) unauthorized(tok, msgs);
        reject(new ApiError(xhr.status, msgs));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, ['The upload failed: the JobManager did not answer.']));
    xhr.onabort = () => reject(new ApiError(0, ['Upload cancelled.']));
    const form = new FormData();
    form.append('wasmfile', file, file.name);
    xhr.open('POST', apiURL('/wasm/upload'));
    xhr.setRequestHeader('Accept', 'application/json');
    for (const [k, v] of Object.entries(authHeaders(tok))) xhr.setRequestHeader(k, v);
    xhr.send(form);
  });
  return { abort: () => xhr.abort(), done };
}
