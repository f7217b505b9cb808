import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { TaskCounts } from '../api';

/** Weir's mark: a weir's wave on the accent colour. */
export function BrandMark({ size = 28 }: { size?: number }) {
  return (
    <svg viewBox="0 0 32 32" width={size} height={size} aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="var(--accent)" />
      <path d="M5 20c4 0 4-6 8-6s4 6 8 6 4-6 6-6" stroke="white" stroke-width="3" fill="none" stroke-linecap="round" />
    </svg>
  );
}

export function StateBadge({ state }: { state: string }) {
  return (
    <span class={`badge state-${state.toLowerCase()}`} data-state={state}>
      {state}
    </span>
  );
}

export function Stat({ label, value, sub, tone }: { label: string; value: ComponentChildren; sub?: ComponentChildren; tone?: string }) {
  return (
    <div class={`stat ${tone ? 'tone-' + tone : ''}`}>
      <div class="stat-label">{label}</div>
      <div class="stat-value">{value}</div>
      {sub != null && <div class="stat-sub">{sub}</div>}
    </div>
  );
}

export function Card({ title, actions, children, class: cls }: { title?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; class?: string }) {
  return (
    <section class={`card ${cls ?? ''}`}>
      {(title || actions) && (
        <header class="card-head">
          <h2>{title}</h2>
          {actions && <div class="card-actions">{actions}</div>}
        </header>
      )}
      <div class="card-body">{children}</div>
    </section>
  );
}

export function ErrorBanner({ messages, title, onClose }: { messages?: string[]; title?: string; onClose?: () => void }) {
  if (!messages || !messages.length) return null;
  return (
    <div class="banner banner-error" role="alert">
      <div>
        {title && <strong>{title}</strong>}
        <ul>
          {messages.map((m, i) => (
            <li key={i}>{m}</li>
          ))}
        </ul>
      </div>
      {onClose && (
        <button class="btn-icon" aria-label="Dismiss" onClick={onClose}>
          ×
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

export function Loading({ what }: { what?: string }) {
  return <div class="empty loading">Loading{what ? ` ${what}` : ''}…</div>;
}

const ORDER: [keyof TaskCounts, string][] = [
  ['running', 'RUNNING'],
  ['finished', 'FINISHED'],
  ['deploying', 'DEPLOYING'],
  ['created', 'CREATED'],
  ['canceling', 'CANCELING'],
  ['canceled', 'CANCELED'],
  ['failed', 'FAILED'],
];

/** Subtasks per state as a stacked bar with the counts (Flink's task status bar). */
export function TaskBar({ tasks }: { tasks: TaskCounts }) {
  const total = tasks.total || 1;
  const parts = ORDER.filter(([k]) => tasks[k] > 0);
  return (
    <div class="taskbar" title={parts.map(([k, s]) => `${s}: ${tasks[k]}`).join(', ')}>
      <div class="taskbar-bar">
        {parts.map(([k, s]) => (
          <span key={k} class={`seg state-bg-${s.toLowerCase()}`} style={{ width: `${(tasks[k] / total) * 100}%` }} />
        ))}
      </div>
      <div class="taskbar-nums">
        {parts.map(([k, s]) => (
          <span key={k} class={`num state-fg-${s.toLowerCase()}`}>
            {tasks[k]} {s.toLowerCase()}
          </span>
        ))}
        {!parts.length && <span class="num muted">no tasks</span>}
      </div>
    </div>
  );
}

/**
 * A write control's attributes when the session may not write (blocked: why,
 * from useWriteBlock()): aria-disabled, so it stays focusable and its title
 * (the accessible description) says why; the caller ignores its clicks.
 */
export function blockedProps(blocked: string | undefined, title?: string): { 'aria-disabled'?: 'true'; title?: string; 'data-blocked'?: 'true' } {
  return blocked ? { 'aria-disabled': 'true', title: blocked, 'data-blocked': 'true' } : { title };
}

/** A button that asks for a second click before acting; blocked: disabled for a viewer, with why. */
export function ConfirmButton({ label, confirm, onConfirm, class: cls, disabled, testid, blocked, title }: {
  label: string;
  confirm: string;
  onConfirm: () => void;
  class?: string;
  disabled?: boolean;
  testid?: string;
  blocked?: string;
  title?: string;
}) {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return;
    const t = setTimeout(() => setArmed(false), 4000);
    return () => clearTimeout(t);
  }, [armed]);
  return (
    <button
      class={`btn ${cls ?? ''} ${armed ? 'btn-armed' : ''}`}
      disabled={disabled}
      {...blockedProps(blocked, title)}
      data-testid={testid}
      data-armed={armed ? 'true' : undefined}
      onClick={() => {
        if (blocked) return;
        if (armed) {
          setArmed(false);
          onConfirm();
        } else setArmed(true);
      }}
    >
      {armed ? confirm : label}
    </button>
  );
}

/** A meter for a fraction (0..1). */
export function Meter({ value, tone }: { value: number; tone?: string }) {
  const v = Math.max(0, Math.min(1, value || 0));
  return (
    <span class={`meter ${tone ? 'tone-' + tone : ''}`}>
      <span style={{ width: `${v * 100}%` }} />
    </span>
  );
}

/**
 * A table body that renders only the visible rows once there are many
 * (fixed row height, spacer rows above and below), so a vertex with 256 or
 * 4096 subtasks costs the same as one with 30.
 */
export function VirtualRows<T>({ rows, rowHeight, maxHeight, head, render, colSpan, threshold = 80, testid }: {
  rows: T[];
  rowHeight: number;
  maxHeight: number;
  head: ComponentChildren;
  render: (row: T, i: number) => ComponentChildren;
  colSpan: number;
  threshold?: number;
  testid?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const virtual = rows.length > threshold;
  let from = 0;
  let to = rows.length;
  if (virtual) {
    const visible = Math.ceil(maxHeight / rowHeight) + 10;
    from = Math.max(0, Math.floor(top / rowHeight) - 5);
    to = Math.min(rows.length, from + visible);
  }
  const onScroll = () => {
    const el = ref.current;
    if (el) setTop(el.scrollTop);
  };
  return (
    <div class="table-wrap" ref={ref} style={virtual ? { maxHeight: `${maxHeight}px` } : undefined} onScroll={virtual ? onScroll : undefined} data-testid={testid} data-rows={rows.length}>
      <table class="table sticky">
        <thead>{head}</thead>
        <tbody>
          {from > 0 && (
            <tr class="spacer" style={{ height: `${from * rowHeight}px` }}>
              <td colSpan={colSpan} />
            </tr>
          )}
          {rows.slice(from, to).map((r, i) => render(r, from + i))}
          {to < rows.length && (
            <tr class="spacer" style={{ height: `${(rows.length - to) * rowHeight}px` }}>
              <td colSpan={colSpan} />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

export function Tabs({ tabs, active }: { tabs: { id: string; label: ComponentChildren; href: string }[]; active: string }) {
  return (
    <nav class="tabs" role="tablist">
      {tabs.map((t) => (
        <a key={t.id} href={t.href} role="tab" aria-selected={t.id === active} class={`tab ${t.id === active ? 'active' : ''}`} data-tab={t.id}>
          {t.label}
        </a>
      ))}
    </nav>
  );
}

export function KV({ rows }: { rows: [ComponentChildren, ComponentChildren][] }) {
  return (
    <dl class="kv">
      {rows.map(([k, v], i) => (
        <div key={i} class="kv-row">
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
