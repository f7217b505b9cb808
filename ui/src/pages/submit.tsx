import { Fragment } from 'preact';
import { useRef, useState } from 'preact/hooks';
import type { Config, RunRequest, WasmFile } from '../api';
import { ApiError, deleteModule, runModule, uploadModule } from '../api';
import { useWriteBlock } from '../auth';
import { blockedProps, Card, ConfirmButton, Empty, ErrorBanner, Loading } from '../components/common';
import { fmtBytes, fmtTime, shortId, splitArgs } from '../format';
import { refresh, useLive } from '../live';
import { navigate } from '../router';

interface Upload {
  name: string;
  loaded: number;
  total: number;
  phase: 'uploading' | 'validating' | 'done' | 'failed';
  error?: string[];
  abort?: () => void;
}

function messages(e: unknown): string[] {
  return e instanceof ApiError ? e.messages : [String(e)];
}

/** The upload drop zone; blocked (a viewer token): disabled, saying why, taking no file. */
function DropZone({ maxBytes, onUploaded, blocked }: { maxBytes?: number; onUploaded: (f: WasmFile) => void; blocked?: string }) {
  const [over, setOver] = useState(false);
  const [up, setUp] = useState<Upload | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const start = (file: File | undefined | null) => {
    if (!file || blocked) return;
    if (maxBytes && file.size > maxBytes) {
      setUp({ name: file.name, loaded: 0, total: file.size, phase: 'failed', error: [`${file.name} is ${fmtBytes(file.size)}: the JobManager takes modules up to ${fmtBytes(maxBytes)}.`] });
      return;
    }
    const h = uploadModule(file, (loaded, total) =>
      setUp((u) => (u && u.phase === 'uploading' ? { ...u, loaded, total, phase: loaded >= total ? 'validating' : 'uploading' } : u)),
    );
    setUp({ name: file.name, loaded: 0, total: file.size, phase: 'uploading', abort: h.abort });
    h.done.then(
      (res) => {
        setUp({ name: file.name, loaded: file.size, total: file.size, phase: 'done' });
        onUploaded({ id: res.id, name: res.filename ?? file.name, size: res.size, uploaded: res.uploaded });
      },
      (e) => setUp({ name: file.name, loaded: 0, total: file.size, phase: 'failed', error: messages(e) }),
    );
  };

  const busy = up && (up.phase === 'uploading' || up.phase === 'validating');
  const pct = up && up.total ? Math.round((up.loaded / up.total) * 100) : 0;
  return (
    <div>
      <div
        class={`dropzone ${over ? 'over' : ''} ${busy ? 'busy' : ''}`}
        data-testid="dropzone"
        onDragEnter={(e) => {
          e.preventDefault();
          if (!blocked) setOver(true);
        }}
        onDragOver={(e) => {
          e.preventDefault();
          if (e.dataTransfer) e.dataTransfer.dropEffect = blocked ? 'none' : 'copy';
          if (!blocked) setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          start(e.dataTransfer?.files?.[0]);
        }}
        onClick={() => !busy && !blocked && input.current?.click()}
        role="button"
        tabIndex={0}
        onKeyDown={(e) => !blocked && (e.key === 'Enter' || e.key === ' ') && input.current?.click()}
        {...blockedProps(blocked)}
      >
        <svg viewBox="0 0 24 24" width="36" height="36" aria-hidden="true">
          <path d="M12 16V4m0 0L7 9m5-5 5 5M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" />
        </svg>
        <div class="dz-title">Drop a job module (.wasm) here</div>
        {blocked ? (
          <div class="dz-sub">{blocked}</div>
        ) : (
          <div class="dz-sub">
            or <span class="link">choose a file</span>
            {maxBytes ? ` · up to ${fmtBytes(maxBytes)}` : ''}
          </div>
        )}
        <input
          ref={input}
          type="file"
          accept=".wasm,application/wasm"
          hidden
          disabled={!!blocked}
          data-testid="file-input"
          onChange={(e) => {
            const f = (e.currentTarget as HTMLInputElement).files?.[0];
            start(f);
            (e.currentTarget as HTMLInputElement).value = '';
          }}
        />
      </div>
      {up && (
        <div class={`upload upload-${up.phase}`} data-testid="upload-status" data-phase={up.phase}>
          <div class="upload-line">
            <span class="mono">{up.name}</span>
            <span class="muted">
              {up.phase === 'uploading' && `${fmtBytes(up.loaded)} / ${fmtBytes(up.total)} · ${pct}%`}
              {up.phase === 'validating' && 'Uploaded; the JobManager is validating the module…'}
              {up.phase === 'done' && 'Uploaded and validated.'}
              {up.phase === 'failed' && 'Upload refused.'}
            </span>
            {busy && up.abort && (
              <button class="btn btn-sm" onClick={up.abort}>
                Abort
              </button>
            )}
          </div>
          {up.phase !== 'failed' && (
            <div class="progress" role="progressbar" aria-valuenow={pct} aria-valuemin={0} aria-valuemax={100}>
              <span class={up.phase === 'validating' ? 'indeterminate' : ''} style={{ width: `${up.phase === 'uploading' ? pct : 100}%` }} />
            </div>
          )}
          <ErrorBanner messages={up.error} title={`Could not upload ${up.name}`} onClose={() => setUp(null)} />
        </div>
      )}
    </div>
  );
}

function parseConfig(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) return `Line ${i + 1} of the configuration is not key=value: ${line}`;
    out[m[1]] = m[2];
  }
  return out;
}

function RunForm({ file, onClose }: { file: WasmFile; onClose: () => void }) {
  const [parallelism, setParallelism] = useState('');
  const [args, setArgs] = useState('');
  const [savepoint, setSavepoint] = useState('');
  const [allowNonRestored, setAllowNonRestored] = useState(false);
  const [config, setConfig] = useState('');
  const [error, setError] = useState<string[] | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const req: RunRequest = {};
    if (parallelism.trim()) {
      const p = Number(parallelism);
      if (!Number.isInteger(p) || p < 1) {
        setError(['Parallelism must be a whole number ≥ 1 (or empty for the plan’s own).']);
        return;
      }
      req.parallelism = p;
    }
    const a = splitArgs(args);
    if (a.length) req.programArgs = a;
    if (savepoint.trim()) {
      req.savepointPath = savepoint.trim();
      if (allowNonRestored) req.allowNonRestoredState = true;
    }
    const cfg = parseConfig(config);
    if (typeof cfg === 'string') {
      setError([cfg]);
      return;
    }
    if (Object.keys(cfg).length) req.config = cfg;
    setBusy(true);
    try {
      const r = await runModule(file.id, req);
      void refresh('/jobs/overview');
      navigate(`/jobs/${r.jobid}`);
    } catch (err) {
      setError(messages(err));
      setBusy(false);
    }
  };

  return (
    <form class="run-form" onSubmit={submit} data-testid="run-form">
      <div class="form-grid">
        <label>
          <span>Parallelism</span>
          <input type="number" min={1} inputMode="numeric" placeholder="plan’s own" value={parallelism} onInput={(e) => setParallelism(e.currentTarget.value)} name="parallelism" />
        </label>
        <label class="span-3">
          <span>Program arguments</span>
          <input type="text" class="mono" placeholder="--input /data/words.txt --output /tmp/out" value={args} onInput={(e) => setArgs(e.currentTarget.value)} name="programArgs" />
        </label>
        <label class="span-3">
          <span>Savepoint path (restore from)</span>
          <input type="text" class="mono" placeholder="optional: a savepoint or checkpoint directory" value={savepoint} onInput={(e) => setSavepoint(e.currentTarget.value)} name="savepointPath" />
        </label>
        <label class="check">
          <input type="checkbox" checked={allowNonRestored} disabled={!savepoint.trim()} onChange={(e) => setAllowNonRestored(e.currentTarget.checked)} name="allowNonRestoredState" />
          <span>Allow non-restored state</span>
        </label>
        <label class="span-4">
          <span>Job configuration (key=value, one per line; optional)</span>
          <textarea class="mono" rows={2} placeholder="restart-strategy.type=fixed-delay" value={config} onInput={(e) => setConfig(e.currentTarget.value)} name="config" />
        </label>
      </div>
      <ErrorBanner messages={error} title="The job was not submitted" onClose={() => setError(undefined)} />
      <div class="form-actions">
        <button type="submit" class="btn btn-primary" disabled={busy} data-testid="run-submit">
          {busy ? 'Submitting…' : 'Run job'}
        </button>
        <button type="button" class="btn" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}

export function SubmitPage() {
  const config = useLive<Config>('/config');
  const list = useLive<{ files: WasmFile[] }>('/wasm');
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<string[] | undefined>();
  const files = (list.data?.files ?? []).slice().sort((a, b) => b.uploaded - a.uploaded);
  const enabled = config.data?.features['web-submit'] !== false;
  const blocked = useWriteBlock();

  const remove = async (f: WasmFile) => {
    if (blocked) return;
    setError(undefined);
    try {
      await deleteModule(f.id);
      if (open === f.id) setOpen(null);
    } catch (e) {
      setError(messages(e));
    }
    void refresh('/wasm');
  };

  return (
    <div class="page">
      <header class="page-head">
        <h1>Submit a job</h1>
        <span class="muted">Upload a job module, then run it with its arguments.</span>
      </header>
      {!enabled && <div class="banner banner-warn">This JobManager does not take modules through its API (web submission is disabled).</div>}
      {blocked && (
        <div class="banner banner-info" role="note" data-testid="viewer-note">
          Signed in as viewer: uploading, running and deleting modules need a submitter token.
        </div>
      )}
      <Card title="Upload">
        <DropZone
          blocked={blocked}
          maxBytes={config.data?.['max-upload-bytes']}
          onUploaded={(f) => {
            setOpen(f.id);
            void refresh('/wasm');
          }}
        />
      </Card>
      <Card title={`Uploaded modules (${files.length})`}>
        <ErrorBanner messages={error ?? list.error} title="Modules" onClose={error ? () => setError(undefined) : undefined} />
        {!list.data ? (
          <Loading />
        ) : !files.length ? (
          <Empty>No modules yet: upload one above.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table" data-testid="modules">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Id (SHA-256)</th>
                  <th class="num">Size</th>
                  <th>Uploaded</th>
                  <th>Actions</th>
                </tr>
              </thead>
              <tbody>
                {files.map((f) => (
                  <Fragment key={f.id}>
                    <tr data-module={f.name} data-id={f.id} class={open === f.id ? 'selected' : ''}>
                      <td class="strong">{f.name}</td>
                      <td class="mono muted" title={f.id}>
                        {shortId(f.id, 16)}…
                      </td>
                      <td class="num">{fmtBytes(f.size)}</td>
                      <td class="nowrap">{fmtTime(f.uploaded)}</td>
                      <td class="nowrap">
                        <button class="btn btn-sm btn-primary" onClick={() => !blocked && setOpen(open === f.id ? null : f.id)} data-testid="module-run" {...blockedProps(blocked)}>
                          Run…
                        </button>{' '}
                        <ConfirmButton label="Delete" confirm="Delete?" class="btn-sm btn-danger" onConfirm={() => remove(f)} testid="module-delete" blocked={blocked} />
                      </td>
                    </tr>
                    {open === f.id && !blocked && (
                      <tr class="run-row">
                        <td colSpan={5}>
                          <RunForm file={f} onClose={() => setOpen(null)} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </div>
  );
}
