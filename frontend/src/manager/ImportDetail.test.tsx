import { fireEvent, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { setAccess } from "../api/session";
import { envelope, fakeServer, json, path } from "../test/fakeServer";
import { AGENT_ME, renderApp } from "../test/renderApp";

const MANAGER = { ...AGENT_ME, id: 2, email: "manager@leadline.local", role: "manager" };

function batch(state: string, action: string, progress: { stage: string; rows_done: number; rows_total: number | null; percent: number }) {
  return {
    id: 41,
    state,
    action,
    attempts: 1,
    progress,
    file_name: "leads.csv",
    source: "api",
    strategy: "",
    dedupe: "skip",
    distribute: true,
    strict: false,
    rows: 4,
    created: 4,
    updated: 0,
    duplicates: 0,
    invalid: 0,
    assigned: state === "committed" ? 4 : 0,
    unassigned: 0,
    per_agent: { "3": 2, "5": 2 },
    message: "",
    created_by: 2,
    created_at: "2026-12-01T10:00:00Z",
    committed_at: null,
    undone_at: null,
    errors: [],
    duplicate_rows: [],
    routing: [],
  };
}

describe("an import's page", () => {
  afterEach(() => {
    setAccess(null);
    vi.unstubAllGlobals();
  });

  it("follows a commit the server queued (202) until the batch is committed", async () => {
    const done = { stage: "done", rows_done: 4, rows_total: 4, percent: 100 };
    const answers = [
      batch("preview", "preview", done),
      batch("processing", "commit", { stage: "committing", rows_done: 2, rows_total: 4, percent: 50 }),
      batch("committed", "commit", done),
    ];
    const calls = fakeServer((request) => {
      const where = path(request);
      if (where === "/api/v1/auth/token/refresh/") return json(200, { access: "tok" });
      if (where === "/api/v1/auth/me/") return json(200, MANAGER);
      if (where === "/api/v1/agents/") return json(200, { count: 0, next: null, previous: null, results: [] });
      if (where === "/api/v1/imports/41/commit/") {
        return json(202, batch("queued", "commit", { stage: "queued", rows_done: 0, rows_total: 4, percent: 0 }), {
          Location: "/api/v1/imports/41/",
        });
      }
      if (where === "/api/v1/imports/41/") return json(200, answers.shift() ?? batch("committed", "commit", done));
      return envelope(404, "not_found", "Not found.");
    });
    renderApp("/imports/41");

    fireEvent.click(await screen.findByRole("button", { name: "Commit" }, { timeout: 8000 }));
    expect((await screen.findByText("Commit queued.")).getAttribute("role")).toBe("status");
    expect(screen.getByRole("progressbar", { name: "Import progress" })).toBeTruthy();
    expect(screen.queryByText("Committed")).toBeNull();

    await screen.findByRole("button", { name: "Undo import" }, { timeout: 8000 });
    expect(screen.queryByRole("progressbar")).toBeNull();
    expect(calls.filter((r) => path(r) === "/api/v1/imports/41/").length).toBeGreaterThanOrEqual(3);
  });
});
