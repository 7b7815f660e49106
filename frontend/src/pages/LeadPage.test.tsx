import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { setAccess } from "../api/session";
import { envelope, fakeServer, json, path } from "../test/fakeServer";
import { AGENT_ME, lead, renderApp } from "../test/renderApp";

type Patch = (request: Request) => Response | Promise<Response>;

function server(onPatch: Patch) {
  return fakeServer(async (request) => {
    const where = path(request);
    if (where === "/api/v1/auth/token/refresh/") return json(200, { access: "tok" });
    if (where === "/api/v1/auth/me/") return json(200, AGENT_ME);
    if (where === "/api/v1/leads/7/" && request.method === "GET") return json(200, lead());
    if (where === "/api/v1/leads/7/" && request.method === "PATCH") return onPatch(request);
    if (where === "/api/v1/leads/7/activity/") return json(200, { count: 0, next: null, previous: null, results: [] });
    if (where === "/api/v1/leads/") return json(200, { count: 0, next: null, previous: null, results: [] });
    if (where === "/api/v1/assignments/") return json(200, { count: 0, next: null, previous: null, results: [] });
    return envelope(404, "not_found", "Not found.");
  });
}

async function openLead() {
  renderApp("/leads/7");
  await screen.findByRole("heading", { name: "Ravi Kumar" });
}

describe("the lead page's edit form", () => {
  afterEach(() => {
    setAccess(null);
    vi.unstubAllGlobals();
  });

  it("shows the phone as tel: and WhatsApp links", async () => {
    server(() => json(200, lead()));
    await openLead();
    expect(screen.getByRole("link", { name: "+919876543210" }).getAttribute("href")).toBe("tel:+919876543210");
    expect(screen.getByRole("link", { name: "WhatsApp" }).getAttribute("href")).toBe("https://wa.me/919876543210");
    expect(screen.getByRole("heading", { name: "Activity" })).toBeTruthy();
  });

  it("saves optimistically and says Saved", async () => {
    let body: unknown = null;
    server(async (request) => {
      body = await request.json();
      return json(200, lead({ status: "contacted", notes: "call back" }));
    });
    await openLead();
    fireEvent.change(screen.getByLabelText("Status"), { target: { value: "contacted" } });
    fireEvent.change(screen.getByLabelText("Notes"), { target: { value: "call back" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect((await screen.findByText("Saved")).getAttribute("role")).toBe("status");
    expect(body).toEqual({ status: "contacted", notes: "call back", next_follow_up: null });
  });

  it("rolls the optimistic change back and shows the error on a 4xx", async () => {
    let answer: (response: Response) => void = () => undefined;
    server(() => new Promise<Response>((resolve) => (answer = resolve)));
    await openLead();
    const status = screen.getByLabelText<HTMLSelectElement>("Status");
    fireEvent.change(status, { target: { value: "lost" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));

    // Optimistic: the details show the new status before the server answers.
    await waitFor(() => expect(screen.getByText("Lost", { selector: "dd" })).toBeTruthy());
    await act(async () => answer(envelope(400, "validation_error", "Status cannot go from new to lost.")));

    expect((await screen.findByRole("alert")).textContent).toBe("Status cannot go from new to lost.");
    expect(screen.getByText("New", { selector: "dd" })).toBeTruthy();
    expect(screen.getByLabelText<HTMLSelectElement>("Status").value).toBe("new");
    expect(screen.getByLabelText<HTMLTextAreaElement>("Notes").value).toBe("called once");
  });

  it("rolls back on a 5xx too", async () => {
    server(() => new Response("<h1>Server Error</h1>", { status: 500, headers: { "Content-Type": "text/html" } }));
    await openLead();
    fireEvent.change(screen.getByLabelText("Notes"), { target: { value: "new notes" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect((await screen.findByRole("alert")).textContent).toMatch(/500/);
    expect(screen.getByLabelText<HTMLTextAreaElement>("Notes").value).toBe("called once");
  });

  it("returns to the list saying so when the lead was reassigned (404)", async () => {
    server(() => envelope(404, "not_found", "Not found."));
    await openLead();
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect((await screen.findByRole("alert")).textContent).toBe("This lead is no longer assigned to you.");
    expect(screen.getByRole("heading", { name: "My leads" })).toBeTruthy();
  });

  it("refuses an invalid follow-up before calling the server", async () => {
    const calls = server(() => json(200, lead()));
    await openLead();
    const input = screen.getByLabelText<HTMLInputElement>("Next follow-up");
    // A browser only yields "" or a valid value; a scripted value can be anything.
    Object.defineProperty(input, "value", { configurable: true, get: () => "not-a-date", set: () => undefined });
    fireEvent.change(input, { target: { value: "not-a-date" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect((await screen.findByRole("alert")).textContent).toMatch(/valid date and time/);
    expect(calls.filter((r) => r.method === "PATCH")).toHaveLength(0);
  });

  it("disables Save while offline", async () => {
    server(() => json(200, lead()));
    const online = vi.spyOn(navigator, "onLine", "get").mockReturnValue(false);
    await openLead();
    expect(screen.getByRole<HTMLButtonElement>("button", { name: "Save" }).disabled).toBe(true);
    expect(screen.getAllByRole("status").some((node) => /You are offline/.test(node.textContent ?? ""))).toBe(true);
    online.mockRestore();
  });

  it("shows the lead's assignment history with the routing decision in words", async () => {
    const calls = fakeServer((request) => {
      const where = path(request);
      if (where === "/api/v1/auth/token/refresh/") return json(200, { access: "tok" });
      if (where === "/api/v1/auth/me/") return json(200, AGENT_ME);
      if (where === "/api/v1/leads/7/") return json(200, lead());
      if (where === "/api/v1/leads/7/activity/") return json(200, { count: 0, next: null, previous: null, results: [] });
      if (where === "/api/v1/assignments/")
        return json(200, {
          count: 1,
          next: null,
          previous: null,
          results: [
            {
              id: 3,
              lead: 7,
              agent: 2,
              agent_name: "Asha Agent",
              assigned_at: "2026-01-05T10:00:00Z",
              assigned_by: null,
              batch: 4,
              strategy: "round_robin",
              reason: "import",
              ended_at: null,
              end_reason: "",
              rule: { id: 3, name: "Gulf numbers" },
              team: { id: 1, name: "Arabic" },
              explanation: "Rule 3 'Gulf numbers' → team Arabic → round robin",
            },
          ],
        });
      return envelope(404, "not_found", "Not found.");
    });
    await openLead();
    const region = await screen.findByRole("region", { name: "Assignment history" });
    await waitFor(() => expect(region.textContent).toContain("Rule 3 'Gulf numbers' → team Arabic → round robin"));
    expect(region.textContent).toContain("Asha Agent (current)");
    const asked = calls.find((request) => path(request) === "/api/v1/assignments/");
    expect(new URL(asked?.url ?? "http://x/").searchParams.get("lead")).toBe("7");
  });
});
