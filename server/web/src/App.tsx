import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { api, setUnauthorizedHandler, tokenStore } from './api';
import { AuthContext, useAuth, type Me } from './auth';
import { Link, match, navigate, useLocation } from './router';
import { ErrorBanner, ErrorBoundary, Loading } from './components/ui';
import { SignInPage } from './pages/SignInPage';
import { RunsPage } from './pages/RunsPage';
import { RunPage } from './pages/RunPage';
import { WorkflowsPage } from './pages/WorkflowsPage';
import { WorkflowPage } from './pages/WorkflowPage';
import { CatalogPage } from './pages/CatalogPage';
import { RegistryPage, RegisteredModelPage } from './pages/RegistryPage';
import { ModelVersionPage } from './pages/ModelVersionPage';
import { SchedulesPage } from './pages/SchedulesPage';
import { TokensPage } from './pages/TokensPage';
import { ComparePage } from './pages/ComparePage';

interface RouteDef {
  pattern: string;
  render: (params: Record<string, string>) => ReactNode;
}

const ROUTES: RouteDef[] = [
  { pattern: '/runs', render: () => <RunsPage /> },
  { pattern: '/runs/:id', render: (p) => <RunPage id={p.id} /> },
  { pattern: '/compare', render: () => <ComparePage /> },
  { pattern: '/workflows', render: () => <WorkflowsPage /> },
  { pattern: '/workflows/new', render: () => <WorkflowPage name={null} /> },
  { pattern: '/workflows/:name', render: (p) => <WorkflowPage name={p.name} /> },
  { pattern: '/catalog', render: () => <CatalogPage tab="models" /> },
  { pattern: '/catalog/:tab', render: (p) => <CatalogPage tab={p.tab} /> },
  { pattern: '/catalog/:tab/:name', render: (p) => <CatalogPage tab={p.tab} name={p.name} /> },
  { pattern: '/registry', render: () => <RegistryPage /> },
  { pattern: '/registry/:name', render: (p) => <RegisteredModelPage name={p.name} /> },
  { pattern: '/registry/:name/versions/:version', render: (p) => <ModelVersionPage name={p.name} version={Number(p.version)} /> },
  { pattern: '/schedules', render: () => <SchedulesPage /> },
  { pattern: '/schedules/:id', render: (p) => <SchedulesPage selected={p.id} /> },
  { pattern: '/tokens', render: () => <TokensPage /> },
];

const NAV = [
  { to: '/runs', label: 'Runs', icon: '▶' },
  { to: '/workflows', label: 'Workflows', icon: '⇄' },
  { to: '/catalog', label: 'Model Store', icon: '▦' },
  { to: '/registry', label: 'Registry', icon: '◆' },
  { to: '/schedules', label: 'Schedules', icon: '◷' },
];

function signInUrl(): string {
  const here = location.pathname + location.search;
  return here.startsWith('/signin') || here === '/' ? '/signin' : `/signin?next=${encodeURIComponent(here)}`;
}

export function App() {
  const loc = useLocation();
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(() => Boolean(tokenStore.get()));
  const [signInMessage, setSignInMessage] = useState<string | null>(null);
  const [bootError, setBootError] = useState<unknown>(null);

  const signOut = useCallback((message?: string) => {
    tokenStore.clear();
    setMe(null);
    setSignInMessage(message ?? null);
    navigate(signInUrl());
  }, []);

  useEffect(() => {
    setUnauthorizedHandler((message) => signOut(`Your session ended: ${message}`));
  }, [signOut]);

  // A stored token is checked once on load; a deep link keeps its path through sign-in.
  useEffect(() => {
    if (!tokenStore.get()) {
      if (!loc.path.startsWith('/signin')) navigate(signInUrl(), { replace: true });
      return;
    }
    api<Me>('GET', '/whoami')
      .then((who) => setMe(who))
      .catch((e) => setBootError(e))
      .finally(() => setChecking(false));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  if (loc.path.startsWith('/signin') || (!me && !checking && !bootError)) {
    return (
      <SignInPage
        message={signInMessage}
        onSignedIn={(who) => {
          setMe(who);
          setSignInMessage(null);
          setBootError(null);
          const next = new URLSearchParams(location.search).get('next');
          navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/runs', { replace: true });
        }}
      />
    );
  }
  if (checking) return <Loading what="Signing in" />;
  if (!me)
    return (
      <div className="boot-error">
        <ErrorBanner error={bootError} title="Griffin could not load" />
        <button className="btn" onClick={() => location.reload()}>
          Try again
        </button>
      </div>
    );

  return (
    <AuthContext.Provider value={{ me, signOut: () => signOut() }}>
      <Shell>
        <ErrorBoundary resetKey={loc.path}>
          <Routed path={loc.path} />
        </ErrorBoundary>
      </Shell>
    </AuthContext.Provider>
  );
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

function Routed({ path }: { path: string }) {
  if (path === '/' || path === '') return <Redirect to="/runs" />;
  for (const route of ROUTES) {
    const params = match(route.pattern, path);
    if (params) return <>{route.render(params)}</>;
  }
  return (
    <div className="page">
      <ErrorBanner error={new Error(`There is no page at ${path}.`)} title="Page not found" />
      <Link to="/runs">Go to the runs</Link>
    </div>
  );
}

function Shell({ children }: { children: ReactNode }) {
  const { me, signOut, can } = useAuth();
  const { path } = useLocation();
  const nav = can('admin') ? [...NAV, { to: '/tokens', label: 'Tokens', icon: '⚙' }] : NAV;
  return (
    <div className="shell">
      <aside className="sidebar">
        <Link to="/runs" className="brand">
          <span className="logo" aria-hidden>
            G
          </span>
          <span className="brand-text">Griffin</span>
        </Link>
        <nav>
          {nav.map((n) => (
            <Link key={n.to} to={n.to} className={path === n.to || path.startsWith(`${n.to}/`) ? 'nav-item active' : 'nav-item'}>
              <span className="nav-icon" aria-hidden>
                {n.icon}
              </span>
              {n.label}
            </Link>
          ))}
        </nav>
        <div className="sidebar-foot">
          <div className="who" title={`token ${me.tokenId}`}>
            <span className="who-name">{me.name}</span>
            <span className={`role role-${me.role}`}>{me.role}</span>
          </div>
          <button type="button" className="btn btn-ghost btn-small" onClick={signOut}>
            Sign out
          </button>
          <a className="api-link" href="/api/v1/openapi.json" target="_blank" rel="noreferrer">
            API (OpenAPI)
          </a>
        </div>
      </aside>
      <main className="main">{children}</main>
    </div>
  );
}
