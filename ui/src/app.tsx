import type { ComponentChildren } from 'preact';
import type { ClusterLeader, Config } from './api';
import { useEffect } from 'preact/hooks';
import { loadWho, signOut, useSession } from './auth';
import { BrandMark } from './components/common';
import { useLive, useMode } from './live';
import { useRoute } from './router';
import { useTheme } from './theme';
import { OverviewPage } from './pages/overview';
import { SubmitPage } from './pages/submit';
import { JobsPage } from './pages/jobs';
import { JobPage } from './pages/job';
import { TaskManagersPage, TaskManagerPage } from './pages/taskmanagers';
import { LoginPage } from './pages/login';

const NAV = [
  { id: 'overview', label: 'Overview', href: '#/overview', icon: 'M3 12h4v8H3zM10 4h4v16h-4zM17 9h4v11h-4z' },
  { id: 'jobs', label: 'Jobs', href: '#/jobs', icon: 'M4 6h16M4 12h16M4 18h10' },
  { id: 'submit', label: 'Submit', href: '#/submit', icon: 'M12 16V4m0 0L7 9m5-5 5 5M4 20h16' },
  { id: 'taskmanagers', label: 'TaskManagers', href: '#/taskmanagers', icon: 'M4 5h16v6H4zM4 13h16v6H4zM7 8h.01M7 16h.01' },
];

function Icon({ d }: { d: string }) {
  return (
    <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
      <path d={d} fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />
    </svg>
  );
}

function LiveIndicator() {
  const mode = useMode();
  const label = { connecting: 'Connecting', stream: 'Live', polling: 'Live (polling)', offline: 'Offline' }[mode];
  const title = {
    connecting: 'Connecting to the JobManager',
    stream: 'Updates stream from the JobManager (server-sent events)',
    polling: 'The event stream is unavailable: polling the REST API every second',
    offline: 'The JobManager does not answer; retrying every second',
  }[mode];
  return (
    <div class={`live live-${mode}`} title={title} data-testid="live" data-mode={mode}>
      <span class="dot" />
      {label}
    </div>
  );
}

function ThemeToggle() {
  const [choice, effective, next] = useTheme();
  const label = choice === 'system' ? `Theme: system (${effective})` : `Theme: ${choice}`;
  return (
    <button class="side-btn theme-toggle" onClick={next} title={`${label} — click to change`} aria-label={label} data-testid="theme-toggle" data-theme-choice={choice}>
      <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
        {effective === 'dark' ? (
          <path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z" fill="currentColor" />
        ) : (
          <g fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round">
            <circle cx="12" cy="12" r="4" fill="currentColor" />
            <path d="M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4" />
          </g>
        )}
      </svg>
      <span>{choice === 'system' ? 'Auto' : choice === 'dark' ? 'Dark' : 'Light'}</span>
    </button>
  );
}

/** With auth on, the role of the token (GET /whoami); nothing with auth off or while unknown. */
function RoleLabel() {
  const { who } = useSession();
  if (!who?.auth) return null;
  return (
    <div
      class="side-meta side-role"
      data-testid="role"
      data-role={who.role}
      title={who.role === 'viewer' ? 'A viewer token reads; uploading, running, cancelling and savepoints need a submitter token' : 'A submitter token reads, uploads, runs, cancels and takes savepoints'}
    >
      Signed in as {who.role}
    </div>
  );
}

/** Shown only with a stored token (a JobManager with auth on): forgets it and shows the login form. */
function SignOut() {
  return (
    <button class="side-btn" onClick={signOut} title="Forget the access token of this browser and show the login form" data-testid="sign-out">
      <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
        <path d="M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3M10 17l-5-5 5-5M5 12h11" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />
      </svg>
      <span>Sign out</span>
    </button>
  );
}

function Shell({ active, children }: { active: string; children: ComponentChildren }) {
  const config = useLive<Config>('/config');
  const leader = useLive<ClusterLeader>('/cluster/leader');
  const session = useSession();
  // The token's role, asked once per token (sign-in, a stored token at start, auth off).
  useEffect(loadWho, [session.token]);
  return (
    <div class="shell">
      <aside class="sidebar">
        <a class="brand" href="#/overview">
          <BrandMark />
          <span>Weir</span>
        </a>
        <nav class="nav">
          {NAV.map((n) => (
            <a key={n.id} href={n.href} class={`nav-item ${active === n.id ? 'active' : ''}`} data-nav={n.id}>
              <Icon d={n.icon} />
              {n.label}
            </a>
          ))}
        </nav>
        <div class="sidebar-foot">
          <LiveIndicator />
          {leader.data?.leader && (
            <div class="side-meta" title={`Leader ${leader.data.leader.id} (epoch ${leader.data.leader.epoch})`}>
              leader epoch {leader.data.leader.epoch}
            </div>
          )}
          <div class="side-meta">{config.data ? `Weir ${config.data['weir-version']}` : ''}</div>
          <RoleLabel />
          <div class="side-buttons">
            <ThemeToggle />
            {session.token && <SignOut />}
          </div>
        </div>
      </aside>
      <main class="main">{children}</main>
    </div>
  );
}

export function App() {
  const session = useSession();
  const { parts, query } = useRoute();
  // A JobManager with auth on refused a request: the login form, and no page
  // (nor its requests) until a token is accepted. The route is kept.
  if (session.required) return <LoginPage notice={session.notice} />;
  const [top, id, sub] = parts;
  let page: ComponentChildren;
  let active = top ?? 'overview';
  switch (top) {
    case 'submit':
      page = <SubmitPage />;
      break;
    case 'jobs':
      page = id ? <JobPage key={id} jid={id} tab={sub ?? 'overview'} vertex={query.get('vertex')} /> : <JobsPage />;
      break;
    case 'taskmanagers':
      page = id ? <TaskManagerPage key={id} id={id} /> : <TaskManagersPage />;
      break;
    default:
      active = 'overview';
      page = <OverviewPage />;
  }
  return <Shell active={active}>{page}</Shell>;
}
