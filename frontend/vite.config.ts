/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The Django app that `make web-dev` proxies to (runserver).
const backend = process.env.LEADLINE_BACKEND ?? "http://127.0.0.1:8000";

export default defineConfig(({ command }) => ({
  // Django serves frontend/dist under /static/app/ (whitenoise, hashed names
  // cached for a year); index.html itself is served at the app's routes.
  // The dev server (`make web-dev`) serves the app at / and proxies the rest.
  base: command === "build" ? "/static/app/" : "/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
    // No inline <script>/CSS: the production CSP refuses them.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    port: 5173,
    strictPort: true,
    // To Django the proxied calls come from its own origin (the auth views
    // refuse a cookie request whose Origin is another site).
    proxy: Object.fromEntries(
      ["/api", "/admin", "/static"].map((prefix) => [
        prefix,
        {
          target: backend,
          changeOrigin: true,
          configure: (proxy: { on: (event: "proxyReq", listener: (req: { setHeader: (name: string, value: string) => void }) => void) => void }) => {
            proxy.on("proxyReq", (req) => req.setHeader("origin", backend));
          },
        },
      ]),
    ),
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./vitest.setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
    // The shared CI box is slow; nothing here is timed, this only bounds a hang.
    testTimeout: 60_000,
  },
}));
