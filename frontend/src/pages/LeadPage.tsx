import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, Navigate, useNavigate, useParams } from "react-router";

import { allPages, api, ApiError, unwrap } from "../api/client";
import { LEAD_STATUSES, type Lead, type LeadPatch } from "../api/types";
import { isManager, useMe } from "../auth";
import { formatDateTime, leadName, STATUS_LABELS, whatsappUrl } from "../format";
import { useOnline } from "../online";
import { LeadForm } from "./LeadForm";

export const GONE_MESSAGE = "This lead is no longer assigned to you.";

const KIND_LABELS: Record<string, string> = {
  created: "Created",
  status: "Status changed",
  note: "Notes changed",
  follow_up: "Follow-up set",
  assigned: "Assigned",
  updated: "Updated",
};

/** An activity's old/new value as a person reads it (status labels, local times). */
function shown(kind: string, value: string | undefined): string {
  if (value === undefined || value === "") return "";
  if (kind === "status") return STATUS_LABELS[LEAD_STATUSES.find((status) => status === value) ?? "new"] ?? value;
  if (kind === "follow_up" && !Number.isNaN(Date.parse(value))) return formatDateTime(value);
  return value;
}

function Activity({ id }: { id: number }) {
  const activity = useQuery({
    queryKey: ["lead", id, "activity"],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/leads/{id}/activity/", { params: { path: { id }, query: { page_size: 100 } } })),
  });
  return (
    <section aria-labelledby="activity-heading" className="card">
      <h2 id="activity-heading">Activity</h2>
      {activity.isPending && <p role="status">Loading activity…</p>}
      {activity.isError && <p className="error">{activity.error.message}</p>}
      {activity.data !== undefined &&
        (activity.data.results.length === 0 ? (
          <p>No activity yet.</p>
        ) : (
          <ol className="timeline">
            {activity.data.results.map((item) => (
              <li key={item.id}>
                <strong>{KIND_LABELS[item.kind] ?? item.kind}</strong>
                {shown(item.kind, item.old_value) !== "" || shown(item.kind, item.new_value) !== "" ? (
                  <span className="change">
                    {" "}
                    {shown(item.kind, item.old_value) !== "" && (
                      <>
                        <del>{shown(item.kind, item.old_value)}</del>
                        {" → "}
                      </>
                    )}
                    <span>{shown(item.kind, item.new_value)}</span>
                  </span>
                ) : null}
                <div className="meta">
                  <time dateTime={item.created_at}>{formatDateTime(item.created_at)}</time>
                  {" · "}
                  {item.actor ?? "system"}
                </div>
              </li>
            ))}
          </ol>
        ))}
    </section>
  );
}

/**
 * Who has held the lead and why, in words ("Rule 1 'Gulf numbers' → team Arabic →
 * round robin", "Manual reassignment (rules bypassed)"). An agent's list holds
 * their own rows only (the API scopes it).
 */
function Assignments({ id }: { id: number }) {
  const history = useQuery({
    queryKey: ["lead", id, "assignments"],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/assignments/", { params: { query: { lead: id, page_size: 100 } } })),
  });
  return (
    <section aria-labelledby="assignments-heading" className="card">
      <h2 id="assignments-heading">Assignment history</h2>
      {history.isPending && <p role="status">Loading assignment history…</p>}
      {history.isError && <p className="error">{history.error.message}</p>}
      {history.data !== undefined &&
        (history.data.results.length === 0 ? (
          <p>Not assigned yet.</p>
        ) : (
          <ol className="timeline">
            {history.data.results.map((item) => (
              <li key={item.id}>
                <strong>{item.agent_name}</strong>
                {item.ended_at === null ? " (current)" : ""}
                <div>{item.explanation}</div>
                <div className="meta">
                  <time dateTime={item.assigned_at}>{formatDateTime(item.assigned_at)}</time>
                  {" · "}
                  {item.assigned_by ?? "system"}
                </div>
              </li>
            ))}
          </ol>
        ))}
    </section>
  );
}

function MoveLead({ lead }: { lead: Lead }) {
  const queryClient = useQueryClient();
  const online = useOnline();
  const [agent, setAgent] = useState("");
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const agents = useQuery({
    queryKey: ["agents", "active"],
    queryFn: () =>
      allPages(async (page) =>
        unwrap(
          await api.GET("/api/v1/agents/", {
            params: { query: { is_active: true, page, page_size: 200, ordering: "name" } },
          }),
        ),
      ),
  });
  const move = useMutation({
    mutationFn: async (agentId: number) =>
      unwrap(await api.POST("/api/v1/reassign/", { body: { lead_ids: [lead.id], agent: agentId } })),
    onSuccess: async () => {
      setMessage({ ok: true, text: "Moved" });
      await queryClient.invalidateQueries({ queryKey: ["lead", lead.id] });
      await queryClient.invalidateQueries({ queryKey: ["leads"] });
    },
    onError: (error) => setMessage({ ok: false, text: error.message }),
  });
  return (
    <form
      className="card move"
      aria-label="Move lead"
      onSubmit={(event) => {
        event.preventDefault();
        const id = Number(agent);
        if (!Number.isInteger(id) || id <= 0) {
          setMessage({ ok: false, text: "Choose an agent." });
          return;
        }
        move.mutate(id);
      }}
    >
      <label htmlFor="move-agent">Assign to</label>
      <select id="move-agent" value={agent} onChange={(event) => setAgent(event.target.value)}>
        <option value="">Choose an agent…</option>
        {agents.data?.results
          .filter((item) => item.id !== lead.agent)
          .map((item) => (
            <option key={item.id} value={item.id}>
              {item.name}
            </option>
          ))}
      </select>
      <button type="submit" disabled={!online || move.isPending}>
        Move
      </button>
      {message !== null && (
        <p role={message.ok ? "status" : "alert"} className={message.ok ? "ok" : "error"}>
          {message.text}
        </p>
      )}
    </form>
  );
}

export function LeadPage() {
  const params = useParams();
  const id = Number(params.id);
  const valid = Number.isSafeInteger(id) && id > 0;
  const me = useMe();
  const online = useOnline();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [formVersion, setFormVersion] = useState(0);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);

  const lead = useQuery({
    queryKey: ["lead", id],
    enabled: valid,
    queryFn: async () => unwrap(await api.GET("/api/v1/leads/{id}/", { params: { path: { id } } })),
  });

  const save = useMutation({
    mutationFn: async (patch: LeadPatch) =>
      unwrap(await api.PATCH("/api/v1/leads/{id}/", { params: { path: { id } }, body: patch })),
    // Optimistic: the page shows the new values at once; an error puts the old ones back.
    onMutate: async (patch: LeadPatch) => {
      setResult(null);
      await queryClient.cancelQueries({ queryKey: ["lead", id], exact: true });
      const previous = queryClient.getQueryData<Lead>(["lead", id]);
      if (previous !== undefined) queryClient.setQueryData<Lead>(["lead", id], { ...previous, ...patch });
      return { previous };
    },
    onError: (error, _patch, context) => {
      if (context?.previous !== undefined) queryClient.setQueryData<Lead>(["lead", id], context.previous);
      setFormVersion((v) => v + 1);
      if (error instanceof ApiError && error.status === 404) {
        queryClient.removeQueries({ queryKey: ["lead", id] });
        void queryClient.invalidateQueries({ queryKey: ["leads"] });
        navigate("/leads", { state: { flash: GONE_MESSAGE } });
        return;
      }
      setResult({ ok: false, text: error.message });
    },
    onSuccess: (saved) => {
      queryClient.setQueryData<Lead>(["lead", id], saved);
      setResult({ ok: true, text: "Saved" });
      void queryClient.invalidateQueries({ queryKey: ["lead", id, "activity"] });
      void queryClient.invalidateQueries({ queryKey: ["leads"] });
    },
  });

  if (!valid || (lead.error instanceof ApiError && lead.error.status === 404)) {
    return <Navigate to="/leads" replace state={{ flash: GONE_MESSAGE }} />;
  }
  if (lead.isPending) return <p role="status">Loading lead…</p>;
  if (lead.isError)
    return (
      <p role="alert" className="error">
        {lead.error.message}
      </p>
    );
  const data = lead.data;

  return (
    <section className="lead">
      <p>
        <Link to="/leads">← Back to the list</Link>
      </p>
      <h1>{leadName(data) || "(no name)"}</h1>
      <div className="lead-grid">
        <div className="card details">
          <dl>
            <dt>Phone</dt>
            <dd>
              <a href={`tel:${data.phone}`}>{data.phone}</a>{" "}
              <a className="whatsapp" href={whatsappUrl(data.phone)} target="_blank" rel="noopener noreferrer">
                WhatsApp
              </a>
            </dd>
            {(data.email ?? "") !== "" && (
              <>
                <dt>Email</dt>
                <dd>
                  <a href={`mailto:${data.email ?? ""}`}>{data.email}</a>
                </dd>
              </>
            )}
            <dt>Current status</dt>
            <dd>{STATUS_LABELS[data.status ?? "new"]}</dd>
            <dt>Follow-up</dt>
            <dd>{formatDateTime(data.next_follow_up)}</dd>
            {isManager(me) && (
              <>
                <dt>Agent</dt>
                <dd>{data.agent_name ?? "Unassigned"}</dd>
              </>
            )}
            <dt>Created</dt>
            <dd>{formatDateTime(data.created_at)}</dd>
          </dl>
        </div>
        <div>
          <LeadForm
            key={`${data.id}:${formVersion}`}
            lead={data}
            disabled={!online}
            saving={save.isPending}
            onSave={(patch) => save.mutate(patch)}
          />
          {result !== null && (
            <p role={result.ok ? "status" : "alert"} className={result.ok ? "ok" : "error"}>
              {result.text}
            </p>
          )}
          {isManager(me) && <MoveLead lead={data} />}
        </div>
      </div>
      <Activity id={id} />
      <Assignments id={id} />
    </section>
  );
}
