import { keepPreviousData, useMutation, useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useLocation, useSearchParams } from "react-router";

import { api, errorMessage, unwrap } from "../api/client";
import { LEAD_STATUSES, OPEN_STATUSES, type LeadStatus } from "../api/types";
import { isManager, useAuth, useMe } from "../auth";
import { useOnline } from "../online";
import { formatDateTime, leadName, STATUS_LABELS, todayBounds } from "../format";

export const PAGE_SIZE = 25;
type View = "all" | "due_today" | "overdue";

function readView(value: string | null): View {
  return value === "due_today" || value === "overdue" ? value : "all";
}

function readStatus(value: string | null): LeadStatus | "" {
  return LEAD_STATUSES.find((status) => status === value) ?? "";
}

/** The list API's query for the screen's state (the view's bounds in local time). */
export function listQuery(params: { view: View; status: LeadStatus | ""; search: string; page: number }, now = new Date()) {
  const query: {
    page: number;
    page_size: number;
    ordering: string;
    search?: string;
    status?: LeadStatus[];
    follow_up_after?: string;
    follow_up_before?: string;
  } = { page: params.page, page_size: PAGE_SIZE, ordering: "next_follow_up,id" };
  if (params.search !== "") query.search = params.search;
  if (params.status !== "") query.status = [params.status];
  if (params.view === "due_today") {
    const { start, end } = todayBounds(now);
    query.follow_up_after = start;
    query.follow_up_before = end;
  } else if (params.view === "overdue") {
    query.follow_up_before = now.toISOString();
    if (params.status === "") query.status = [...OPEN_STATUSES];
  }
  return query;
}

/** An agent's own choice of the assignment email (one per import or distribution). */
function AssignmentEmails() {
  const me = useMe();
  const { updateMe } = useAuth();
  const online = useOnline();
  const [problem, setProblem] = useState<string | null>(null);
  const change = useMutation({
    mutationFn: async (on: boolean) =>
      unwrap(await api.PATCH("/api/v1/auth/me/", { body: { notify_assignments: on } })),
    onMutate: () => setProblem(null),
    onSuccess: updateMe,
    onError: (error) => setProblem(errorMessage(error)),
  });
  if (me.agent === null) return null;
  return (
    <p className="preference">
      <label>
        <input
          type="checkbox"
          checked={change.isPending ? change.variables : me.agent.notify_assignments}
          disabled={!online || change.isPending}
          onChange={(event) => change.mutate(event.target.checked)}
        />{" "}
        Email on new leads
      </label>
      {problem !== null && (
        <span role="alert" className="error">
          {" "}
          {problem}
        </span>
      )}
    </p>
  );
}

export function LeadsList() {
  const me = useMe();
  const manager = isManager(me);
  const location = useLocation();
  const [params, setParams] = useSearchParams();
  const view = readView(params.get("view"));
  const status = readStatus(params.get("status"));
  const search = params.get("search") ?? "";
  const page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  const [searchText, setSearchText] = useState(search);
  const flash = typeof location.state === "object" && location.state !== null && "flash" in location.state ? String(location.state.flash) : null;

  // Search as the user types, after a short pause.
  useEffect(() => {
    if (searchText.trim() === search) return;
    const timer = setTimeout(() => update({ search: searchText.trim() }), 300);
    return () => clearTimeout(timer);
  });

  function update(changes: Record<string, string>) {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value === "" || value === "all") next.delete(key);
      else next.set(key, value);
    }
    if (!("page" in changes)) next.delete("page");
    setParams(next, { replace: "search" in changes });
  }

  const query = listQuery({ view, status, search, page });
  const leads = useQuery({
    queryKey: ["leads", { view, status, search, page }],
    queryFn: async () => unwrap(await api.GET("/api/v1/leads/", { params: { query } })),
    placeholderData: keepPreviousData,
  });

  const views: { id: View; label: string }[] = [
    { id: "all", label: "All" },
    { id: "due_today", label: "Due today" },
    { id: "overdue", label: "Overdue" },
  ];
  const data = leads.data;
  const pages = data === undefined ? 1 : Math.max(1, Math.ceil(data.count / PAGE_SIZE));

  return (
    <section>
      <h1>{manager ? "Leads" : "My leads"}</h1>
      {!manager && <AssignmentEmails />}
      {flash !== null && (
        <p role="alert" className="error">
          {flash}
        </p>
      )}
      <nav className="tabs" aria-label="Follow-up views">
        {views.map((item) => {
          const next = new URLSearchParams(params);
          next.delete("page");
          if (item.id === "all") next.delete("view");
          else next.set("view", item.id);
          const qs = next.toString();
          return (
            <Link key={item.id} to={qs === "" ? "/leads" : `/leads?${qs}`} aria-current={view === item.id ? "page" : undefined}>
              {item.label}
            </Link>
          );
        })}
      </nav>
      <div className="filters" role="search">
        <label>
          Search
          <input
            type="search"
            aria-label="Search"
            value={searchText}
            placeholder="Name or phone"
            maxLength={200}
            onChange={(event) => setSearchText(event.target.value)}
          />
        </label>
        <label>
          Status filter
          <select aria-label="Status filter" value={status} onChange={(event) => update({ status: event.target.value })}>
            <option value="">All statuses</option>
            {LEAD_STATUSES.map((value) => (
              <option key={value} value={value}>
                {STATUS_LABELS[value]}
              </option>
            ))}
          </select>
        </label>
      </div>
      {leads.isError && (
        <p role="alert" className="error">
          {leads.error.message}
        </p>
      )}
      {leads.isPending ? (
        <p role="status">Loading leads…</p>
      ) : data === undefined ? null : (
        <>
          <div className="table-wrap">
            <table className="leads">
              <caption className="visually-hidden">
                {data.count} leads, page {page} of {pages}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Phone</th>
                  <th scope="col">Status</th>
                  <th scope="col">Next follow-up</th>
                  {manager && <th scope="col">Agent</th>}
                </tr>
              </thead>
              <tbody>
                {data.results.map((lead) => (
                  <tr key={lead.id}>
                    <td data-label="Name">
                      <Link to={`/leads/${lead.id}`}>{leadName(lead) || "(no name)"}</Link>
                    </td>
                    <td data-label="Phone">
                      <a href={`tel:${lead.phone}`}>{lead.phone}</a>
                    </td>
                    <td data-label="Status">
                      <span className={`badge status-${lead.status ?? "new"}`}>{STATUS_LABELS[lead.status ?? "new"]}</span>
                    </td>
                    <td data-label="Next follow-up">{formatDateTime(lead.next_follow_up)}</td>
                    {manager && <td data-label="Agent">{lead.agent_name ?? "Unassigned"}</td>}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {data.results.length === 0 && <p className="empty">No leads match.</p>}
          <div className="pager">
            <button
              type="button"
              className="secondary"
              disabled={page <= 1}
              onClick={() => update({ page: String(page - 1) })}
            >
              Previous page
            </button>
            <span>
              Page {page} of {pages} · {data.count} leads
            </span>
            <button
              type="button"
              className="secondary"
              disabled={data.next === null || data.next === undefined}
              onClick={() => update({ page: String(page + 1) })}
            >
              Next page
            </button>
          </div>
        </>
      )}
    </section>
  );
}
