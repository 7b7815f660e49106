import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import { MemoryRouter } from "react-router";

import { App } from "../App";
import { AuthProvider } from "../auth";

export const AGENT_ME = {
  id: 11,
  email: "asha@leadline.local",
  first_name: "Asha",
  last_name: "",
  role: "agent",
  is_active: true,
  agent: null,
};

export function lead(overrides: Record<string, unknown> = {}) {
  return {
    id: 7,
    first_name: "Ravi",
    last_name: "Kumar",
    phone: "+919876543210",
    email: "",
    notes: "called once",
    status: "new",
    next_follow_up: null,
    agent: 3,
    agent_name: "Asha",
    batch: null,
    extra: {},
    created_at: "2026-11-30T10:00:00Z",
    updated_at: "2026-11-30T10:00:00Z",
    ...overrides,
  };
}

/** The whole app at `path`, as a browser would mount it (with a fresh cache). */
export function renderApp(path: string) {
  const queryClient = new QueryClient({
    defaultOptions: {
      queries: { retry: false, networkMode: "always" },
      mutations: { retry: false, networkMode: "always" },
    },
  });
  const view = render(
    <QueryClientProvider client={queryClient}>
      <MemoryRouter initialEntries={[path]}>
        <AuthProvider>
          <App />
        </AuthProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return { ...view, queryClient };
}
