import { lazy, Suspense, type ReactNode } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router";

import { isManager, useAuth } from "./auth";
import { Layout } from "./components/Layout";
import { ForgotPassword, SetPassword } from "./pages/Passwords";
import { LeadPage } from "./pages/LeadPage";
import { LeadsList } from "./pages/LeadsList";
import { NotFound } from "./pages/NotFound";
import { SignIn } from "./pages/SignIn";

// Manager-only screens: separate chunks an agent's session never downloads.
const Dashboard = lazy(() => import("./manager/Dashboard"));
const UploadPage = lazy(() => import("./manager/Upload"));
const ImportsList = lazy(() => import("./manager/ImportsList"));
const ImportDetail = lazy(() => import("./manager/ImportDetail"));
const Agents = lazy(() => import("./manager/Agents"));

function Loading() {
  return (
    <p className="loading" role="status">
      Loading…
    </p>
  );
}

function Home() {
  const { state } = useAuth();
  if (state.status === "loading") return <Loading />;
  if (state.status === "anonymous") return <SignIn notice={state.notice} />;
  return <Navigate to={isManager(state.me) ? "/dashboard" : "/leads"} replace />;
}

function RequireUser({ children }: { children: ReactNode }) {
  const { state } = useAuth();
  const location = useLocation();
  if (state.status === "loading") return <Loading />;
  if (state.status === "anonymous") return <Navigate to="/" replace state={{ from: location.pathname }} />;
  return <Layout>{children}</Layout>;
}

function RequireManager({ children }: { children: ReactNode }) {
  const { state } = useAuth();
  if (state.status !== "signed-in") return <Loading />;
  if (!isManager(state.me)) return <NotFound />;
  return <Suspense fallback={<Loading />}>{children}</Suspense>;
}

function manager(element: ReactNode) {
  return (
    <RequireUser>
      <RequireManager>{element}</RequireManager>
    </RequireUser>
  );
}

export function App() {
  const { state } = useAuth();
  return (
    <Routes>
      <Route path="/" element={<Home />} />
      <Route path="/forgot-password" element={<ForgotPassword />} />
      <Route path="/set-password" element={<SetPassword />} />
      <Route
        path="/leads"
        element={
          <RequireUser>
            <LeadsList />
          </RequireUser>
        }
      />
      <Route
        path="/leads/:id"
        element={
          <RequireUser>
            <LeadPage />
          </RequireUser>
        }
      />
      <Route path="/dashboard" element={manager(<Dashboard />)} />
      <Route path="/imports" element={manager(<ImportsList />)} />
      <Route path="/imports/new" element={manager(<UploadPage />)} />
      <Route path="/imports/:id" element={manager(<ImportDetail />)} />
      <Route path="/agents" element={manager(<Agents />)} />
      <Route
        path="*"
        element={
          state.status === "signed-in" ? (
            <Layout>
              <NotFound />
            </Layout>
          ) : (
            <NotFound />
          )
        }
      />
    </Routes>
  );
}
