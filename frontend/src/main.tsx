import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router";

import { App } from "./App";
import { restoreSession } from "./api/session";
import { AuthProvider } from "./auth";
import "./styles.css";

// The session check goes out before the first render (it needs no React).
void restoreSession().catch(() => null);

const queryClient = new QueryClient({
  defaultOptions: {
    // "always": offline, the service worker answers from its cache.
    queries: { networkMode: "always", retry: false, staleTime: 15_000, refetchOnWindowFocus: false },
    mutations: { networkMode: "always", retry: false },
  },
});

if (import.meta.env.PROD && "serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    void navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => undefined);
  });
}

const root = document.getElementById("root");
if (root !== null) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <BrowserRouter>
          <AuthProvider>
            <App />
          </AuthProvider>
        </BrowserRouter>
      </QueryClientProvider>
    </StrictMode>,
  );
}
