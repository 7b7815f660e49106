import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { setAccess } from "../api/session";
import { envelope, fakeServer, json, path } from "../test/fakeServer";
import { AGENT_ME, renderApp } from "../test/renderApp";

const MANAGER = { ...AGENT_ME, id: 2, email: "manager@leadline.local", role: "manager" };

function batch(state: string) {
  return {
    id: 41,
    state,
    file_name: "leads.csv",
    source: "upload",
    strategy: "round_robin",
    dedupe: "skip",
    distribute: true,
    strict: false,
    rows: 4,
    created: 2,
    updated: 0,
    duplicates: 1,
    invalid: 1,
    assigned: state === "committed" ? 2 : 0,
    unassigned: 0,
    per_agent: { "3": 1, "5": 1 },
    message: "",
    created_by: 2,
    created_at: "2026-12-01T10:00:00Z",
    committed_at: null,
    undone_at: null,
    errors: [{ line: 4, column: "Phone", value: "12", message: "Not a valid phone number for region IN." }],
    duplicate_rows: [],
  };
}

/** An XMLHttpRequest that reports two progress steps, then answers `answer`. */
class FakeXhr {
  static sent: { url: string; headers: Record<string, string>; body: FormData }[] = [];
  static answer: { status: number; body: unknown } = { status: 201, body: batch("preview") };
  static release: () => void = () => undefined;
  status = 0;
  responseText = "";
  responseType = "";
  private url = "";
  private headers: Record<string, string> = {};
  private listeners: Record<string, (() => void)[]> = {};
  upload = {
    handlers: [] as ((event: { lengthComputable: boolean; loaded: number; total: number }) => void)[],
    addEventListener: (_name: string, handler: (event: { lengthComputable: boolean; loaded: number; total: number }) => void) => {
      this.upload.handlers.push(handler);
    },
  };
  open(_method: string, url: string) {
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  addEventListener(name: string, handler: () => void) {
    (this.listeners[name] ??= []).push(handler);
  }
  send(body: FormData) {
    FakeXhr.sent.push({ url: this.url, headers: this.headers, body });
    for (const handler of this.upload.handlers) handler({ lengthComputable: true, loaded: 5, total: 10 });
    FakeXhr.release = () => {
      this.status = FakeXhr.answer.status;
      this.responseText = JSON.stringify(FakeXhr.answer.body);
      for (const handler of this.listeners.load ?? []) handler();
    };
  }
}

/** Choose a CSV, press Preview and let the (fake) upload finish. */
async function uploadForPreview() {
  fireEvent.change(await screen.findByLabelText("Lead file", {}, { timeout: 8000 }), { target: { files: [new File(["x"], "leads.csv")] } });
  fireEvent.click(screen.getByRole("button", { name: "Preview" }));
  await screen.findByRole("progressbar");
  await act(async () => FakeXhr.release());
}

function managerServer() {
  return fakeServer((request) => {
    const where = path(request);
    if (where === "/api/v1/auth/token/refresh/") return json(200, { access: "tok" });
    if (where === "/api/v1/auth/me/") return json(200, MANAGER);
    if (where === "/api/v1/agents/") {
      return json(200, {
        count: 2,
        next: null,
        previous: null,
        results: [
          { id: 3, name: "Asha Rao" },
          { id: 5, name: "Ravi Kumar" },
        ],
      });
    }
    if (where === "/api/v1/imports/41/commit/") return json(200, batch("committed"));
    if (where === "/api/v1/imports/41/discard/") return json(200, batch("cancelled"));
    return envelope(404, "not_found", "Not found.");
  });
}

describe("the upload screen", () => {
  afterEach(() => {
    setAccess(null);
    FakeXhr.sent = [];
    FakeXhr.answer = { status: 201, body: batch("preview") };
    vi.unstubAllGlobals();
  });

  it("shows upload progress, the preview with who gets how many, then commits", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const calls = managerServer();
    renderApp("/imports/new");
    const input = await screen.findByLabelText("Lead file", {}, { timeout: 8000 });
    fireEvent.change(input, { target: { files: [new File(["FirstName,Phone\nA,98765"], "leads.csv")] } });
    fireEvent.click(screen.getByRole("button", { name: "Preview" }));

    // The bar shows at 0 when the upload starts; the request's progress event then moves it.
    await screen.findByRole("progressbar");
    await waitFor(() => expect(screen.getByRole("progressbar").getAttribute("value")).toBe("5"));
    expect(FakeXhr.sent[0]?.headers.Authorization).toBe("Bearer tok");
    expect(FakeXhr.sent[0]?.body.get("preview")).toBe("true");
    await act(async () => FakeXhr.release());

    await screen.findByRole("button", { name: "Commit" });
    expect(screen.queryByRole("progressbar")).toBeNull();
    expect(screen.getByRole("link", { name: "Download errors CSV" }).getAttribute("href")).toBe("/api/v1/imports/41/errors.csv");
    expect(await screen.findByRole("cell", { name: "Asha Rao" })).toBeTruthy();
    expect(screen.getByRole("cell", { name: "Not a valid phone number for region IN." })).toBeTruthy();

    fireEvent.click(screen.getByRole("button", { name: "Commit" }));
    expect(await screen.findByRole("heading", { name: "Committed" })).toBeTruthy();
    expect(calls.some((r) => path(r) === "/api/v1/imports/41/commit/" && r.method === "POST")).toBe(true);
  });

  it("discards the preview on the server, then shows the form again", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const calls = managerServer();
    renderApp("/imports/new");
    await uploadForPreview();

    fireEvent.click(await screen.findByRole("button", { name: "Discard" }));
    expect(await screen.findByLabelText("Lead file")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Commit" })).toBeNull();
    expect(calls.filter((r) => path(r) === "/api/v1/imports/41/discard/" && r.method === "POST")).toHaveLength(1);
    expect(calls.some((r) => path(r) === "/api/v1/imports/41/commit/")).toBe(false);
  });

  it("keeps the preview and says why when the server refuses the discard", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    fakeServer((request) => {
      const where = path(request);
      if (where === "/api/v1/auth/token/refresh/") return json(200, { access: "tok" });
      if (where === "/api/v1/auth/me/") return json(200, MANAGER);
      if (where === "/api/v1/agents/") return json(200, { count: 0, next: null, previous: null, results: [] });
      if (where === "/api/v1/imports/41/discard/") {
        return envelope(409, "batch_not_discardable", "Batch #41 is committed; only a preview can be discarded.");
      }
      return envelope(404, "not_found", "Not found.");
    });
    renderApp("/imports/new");
    await uploadForPreview();

    fireEvent.click(await screen.findByRole("button", { name: "Discard" }));
    expect((await screen.findByRole("alert")).textContent).toBe("Batch #41 is committed; only a preview can be discarded.");
    expect(screen.getByRole("button", { name: "Commit" })).toBeTruthy();
  });

  it("follows a queued import's progress until its preview", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const queued = { ...batch("queued"), action: "import", progress: { stage: "queued", rows_done: 0, rows_total: null, percent: 0 } };
    const running = { ...batch("processing"), action: "import", progress: { stage: "reading", rows_done: 2, rows_total: 4, percent: 50 } };
    const done = { ...batch("preview"), action: "import", progress: { stage: "done", rows_done: 4, rows_total: 4, percent: 100 } };
    const answers = [running, done];
    FakeXhr.answer = { status: 202, body: queued };
    const calls = fakeServer((request) => {
      const where = path(request);
      if (where === "/api/v1/auth/token/refresh/") return json(200, { access: "tok" });
      if (where === "/api/v1/auth/me/") return json(200, MANAGER);
      if (where === "/api/v1/imports/41/") return json(200, answers.shift() ?? done);
      if (where === "/api/v1/agents/") return json(200, { count: 0, next: null, previous: null, results: [] });
      return envelope(404, "not_found", "Not found.");
    });
    renderApp("/imports/new");
    await uploadForPreview();

    expect((await screen.findByRole("progressbar", { name: "Import progress" })).getAttribute("value")).not.toBeNull();
    expect(screen.getByRole("button", { name: "Cancel import" })).toBeTruthy();
    expect(screen.queryByLabelText("Lead file")).toBeNull();
    await screen.findByRole("button", { name: "Commit" }, { timeout: 8000 });
    expect(screen.queryByRole("progressbar")).toBeNull();
    expect(calls.filter((r) => path(r) === "/api/v1/imports/41/").length).toBeGreaterThanOrEqual(2);
  });

  it("shows the server's refusal and keeps the form", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    FakeXhr.answer = { status: 413, body: { error: { code: "file_too_large", message: "The file is larger than 10 MB.", fields: {} } } };
    managerServer();
    renderApp("/imports/new");
    await uploadForPreview();
    expect((await screen.findByRole("alert")).textContent).toBe("The file is larger than 10 MB.");
    expect(screen.getByRole("button", { name: "Preview" })).toBeTruthy();
  });

  it("links to the live batch of the same file when the server refuses a duplicate", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const message = "This file was already imported as batch #12 (preview, 2026-12-01 10:00 UTC). Use force=true to import it again.";
    FakeXhr.answer = { status: 409, body: { error: { code: "duplicate_file", message, fields: {}, batch: 12 } } };
    managerServer();
    renderApp("/imports/new");
    await uploadForPreview();
    expect((await screen.findByRole("alert")).textContent).toBe(message);
    expect(screen.getByRole("link", { name: "Open import #12" }).getAttribute("href")).toBe("/imports/12");
  });

  it("refuses a file of another type before uploading", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    managerServer();
    renderApp("/imports/new");
    fireEvent.change(await screen.findByLabelText("Lead file", {}, { timeout: 8000 }), { target: { files: [new File(["x"], "leads.pdf")] } });
    expect((await screen.findByRole("alert")).textContent).toBe("Use a .csv, .xlsx or .xls file.");
    fireEvent.click(screen.getByRole("button", { name: "Preview" }));
    expect(FakeXhr.sent).toHaveLength(0);
  });
});
