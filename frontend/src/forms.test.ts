import { describe, expect, it } from "vitest";

import { whatsappUrl, fromLocalInput, toLocalInput, todayBounds } from "./format";
import { agentBody, EMPTY_AGENT } from "./manager/AgentForm";
import { fileProblem } from "./manager/Upload";
import { toPatch } from "./pages/LeadForm";
import { listQuery } from "./pages/LeadsList";
import { passwordProblem } from "./pages/Passwords";

describe("the lead form's values", () => {
  it("become a PATCH of status, notes and an ISO follow-up", () => {
    const result = toPatch({ status: "qualified", notes: "ok", followUp: "2026-12-02T09:30" });
    expect(result).toEqual({
      patch: { status: "qualified", notes: "ok", next_follow_up: new Date("2026-12-02T09:30").toISOString() },
    });
  });
  it("clear the follow-up when it is empty, refuse overlong notes", () => {
    expect(toPatch({ status: "new", notes: "", followUp: "" })).toEqual({
      patch: { status: "new", notes: "", next_follow_up: null },
    });
    expect(toPatch({ status: "new", notes: "x".repeat(5001), followUp: "" })).toEqual({
      problem: "Notes can be at most 5000 characters.",
    });
  });
  it("round-trip a follow-up through the datetime-local input", () => {
    const iso = new Date(2026, 11, 2, 9, 30).toISOString();
    expect(fromLocalInput(toLocalInput(iso))).toBe(iso);
  });
});

describe("the agent form", () => {
  const filled = { ...EMPTY_AGENT, name: " Asha ", email: "asha@example.com", mobile: "98765 43210", countryCode: "+91" };
  it("joins the country code and the mobile into E.164", () => {
    const result = agentBody(filled);
    expect(result).toEqual({
      body: {
        name: "Asha",
        email: "asha@example.com",
        mobile: "+919876543210",
        weight: 1,
        capacity: null,
        away_until: null,
        accepts_leads: true,
        notify_assignments: true,
      },
    });
  });
  it("keeps a mobile that already has its +country", () => {
    const result = agentBody({ ...filled, mobile: "+44 7700 900123", countryCode: "" });
    expect("body" in result && result.body.mobile).toBe("+447700900123");
  });
  it("names every wrong field", () => {
    const result = agentBody({ ...EMPTY_AGENT, countryCode: "", mobile: "98765 43210", weight: "0", capacity: "-1" });
    expect("problems" in result && Object.keys(result.problems).sort()).toEqual([
      "capacity",
      "countryCode",
      "email",
      "name",
      "weight",
    ]);
  });
});

describe("the upload's file check", () => {
  it("takes csv/xlsx/xls up to 10 MB", () => {
    expect(fileProblem(new File(["a,b"], "leads.csv"))).toBeNull();
    expect(fileProblem(null)).toBe("Choose a lead file first.");
    expect(fileProblem(new File([""], "leads.csv"))).toBe("The file is empty.");
    expect(fileProblem(new File(["x"], "leads.pdf"))).toBe("Use a .csv, .xlsx or .xls file.");
    const big = new File(["x"], "big.csv");
    Object.defineProperty(big, "size", { value: 10 * 1024 * 1024 + 1 });
    expect(fileProblem(big)).toBe("The file is larger than 10 MB.");
  });
});

describe("the list's query", () => {
  const now = new Date(2026, 11, 1, 15, 0);
  it("sorts by follow-up and bounds 'due today' by the local day", () => {
    const query = listQuery({ view: "due_today", status: "", search: "", page: 2 }, now);
    const { start, end } = todayBounds(now);
    expect(query).toEqual({
      page: 2,
      page_size: 25,
      ordering: "next_follow_up,id",
      follow_up_after: start,
      follow_up_before: end,
    });
  });
  it("makes 'overdue' the open leads due before now", () => {
    const query = listQuery({ view: "overdue", status: "", search: "98765", page: 1 }, now);
    expect(query.follow_up_before).toBe(now.toISOString());
    expect(query.status).toEqual(["new", "contacted", "qualified"]);
    expect(query.search).toBe("98765");
  });
});

describe("small helpers", () => {
  it("builds the WhatsApp link from the E.164 digits", () => {
    expect(whatsappUrl("+91 98765-43210")).toBe("https://wa.me/919876543210");
  });
  it("checks a new password pair", () => {
    expect(passwordProblem("short", "short")).toMatch(/at least 8/);
    expect(passwordProblem("long enough 1", "long enough 2")).toBe("The passwords do not match.");
    expect(passwordProblem("long enough 1", "long enough 1")).toBeNull();
  });
});
