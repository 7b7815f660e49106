import { useEffect, useRef, type ReactNode } from "react";
import { NavLink, useLocation, useNavigate } from "react-router";

import { isManager, useAuth, useMe } from "../auth";
import { useOnline } from "../online";

export function OfflineBanner() {
  const online = useOnline();
  if (online) return null;
  return (
    <div className="banner offline" role="status">
      You are offline: showing the last data seen, read-only. Changes are disabled until you reconnect.
    </div>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  const me = useMe();
  const { signOut } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const main = useRef<HTMLElement>(null);

  // Move focus to the new screen's content, as a page load would for a screen reader.
  useEffect(() => {
    main.current?.focus();
  }, [location.pathname]);

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Leadline</span>
        <nav aria-label="Main">
          <NavLink to="/leads">Leads</NavLink>
          {isManager(me) && (
            <>
              <NavLink to="/dashboard">Dashboard</NavLink>
              <NavLink to="/imports/new">Upload</NavLink>
              <NavLink to="/agents">Agents</NavLink>
            </>
          )}
        </nav>
        <span className="who" title={me.email}>
          {me.email}
        </span>
        <button
          type="button"
          className="secondary"
          onClick={() => {
            void signOut().then(() => navigate("/", { replace: true }));
          }}
        >
          Sign out
        </button>
      </header>
      <OfflineBanner />
      <main id="main" ref={main} tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
