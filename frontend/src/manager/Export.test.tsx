import { fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { setAccess } from "../api/session";
import { envelope, fakeServer, json, path } from "../test/fakeServer";
import { AGENT_ME, renderApp } from "../test/renderApp";

const MANAGER = { ...AGENT_ME, id: 2, email: "manager@leadline.local", role: "manager" };

function job(state: string, rows: number) {
  return {
    id: 9,
    state,
    rows,
    rows_total: 60000,
    message: "",
    created_at: "2026-12-01T10:00:00Z",
    finished_at: state === "done" ? "2026-12-01T10:01:00Z" : null,
    download_url: state === "done" ? "http://internal-host:8000/api/v1/leads/exports/9/download/" : null,
  };
}

describe("Export CSV", () => {
  afterEach(() => {
    setAccess(null);
    vi.unstubAllGlobals();
    // jsdom has no object URLs; the test's stand-ins go with it.
    Reflect.deleteProperty(URL, "createObjectURL");
    Reflect.deleteProperty(URL, "revokeObjectURL");
  });

  it("follows an export the server queued (202) to its download link, saving no JSON as the CSV", async () => {
    const saved: Blob[] = [];
    Object.assign(URL, {
      createObjectURL: (blob: Blob) => {
        saved.push(blob);
        return "blob:export";
      },
      revokeObjectURL: () => undefined,
    });
    const answers = [job("processing", 20000), job("done", 60000)];
    const calls = fakeServer((request) => {
      const where = path(request);
      if (where === "/api/v1/auth/token/refresh/") return json(200, { access: "tok" });
      if (where === "/api/v1/auth/me/") return json(200, MANAGER);
      if (where === "/api/v1/agents/") return json(200, { count: 0, next: null, previous: null, results: [] });
      if (where === "/api/v1/leads/export.csv") return json(202, job("queued", 0), { Location: "/api/v1/leads/exports/9/" });
      if (where === "/api/v1/leads/exports/9/") return json(200, answers.shift() ?? job("done", 60000));
      if (where === "/api/v1/leads/exports/9/download/") {
        return new Response("first_name,phone\nRavi,+919876543210\n", {
          status: 200,
          headers: { "Content-Type": "text/csv", "Content-Disposition": 'attachment; filename="leads-export-9.csv"' },
        });
      }
      return envelope(404, "not_found", "Not found.");
    });
    renderApp("/agents");

    fireEvent.click(await screen.findByRole("link", { name: "Export CSV" }, { timeout: 8000 }));
    expect((await screen.findByText(/Preparing the export/)).getAttribute("role")).toBe("status");
    expect(saved).toHaveLength(0);

    fireEvent.click(await screen.findByRole("link", { name: "Download the export" }, { timeout: 8000 }));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(await saved[0]?.text()).toContain("Ravi");
    const download = calls.find((r) => path(r) === "/api/v1/leads/exports/9/download/");
    expect(download?.headers.get("Authorization")).toBe("Bearer tok");
    // On the page's own origin, whatever host the server's absolute URL names.
    expect(new URL(download?.url ?? "").origin).toBe(window.location.origin);
  });
});
