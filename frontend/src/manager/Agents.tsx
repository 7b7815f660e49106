import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";

import { allPages, api, ApiError, fieldErrors, unwrap } from "../api/client";
import type { Agent, AgentCreate } from "../api/types";
import { formatDateTime } from "../format";
import { useOnline } from "../online";
import { AgentForm, agentValues, EMPTY_AGENT } from "./AgentForm";
import { DownloadLink } from "./shared";

type Notice = { ok: boolean; text: string } | null;

function ConfirmDeactivate({
  agent,
  busy,
  onConfirm,
  onCancel,
}: {
  agent: Agent;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    cancel.current?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") onCancel();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onCancel]);
  return (
    <div className="modal-backdrop">
      <div role="dialog" aria-modal="true" aria-labelledby="deactivate-title" className="card modal">
        <h2 id="deactivate-title">Deactivate {agent.name}?</h2>
        <p>
          They can no longer sign in or receive leads. Their {agent.open_leads} open leads go to the other agents
          (leads nobody can take stay unassigned).
        </p>
        <div className="actions">
          <button type="button" className="danger" disabled={busy} onClick={onConfirm}>
            Deactivate
          </button>
          <button type="button" className="secondary" ref={cancel} onClick={onCancel}>
            Cancel
          </button>
        </div>
      </div>
    </div>
  );
}

export default function Agents() {
  const online = useOnline();
  const queryClient = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<number | null>(null);
  const [confirming, setConfirming] = useState<Agent | null>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const [serverProblems, setServerProblems] = useState<Record<string, string>>({});

  const agents = useQuery({
    queryKey: ["agents", "all"],
    queryFn: () =>
      allPages(async (page) =>
        unwrap(await api.GET("/api/v1/agents/", { params: { query: { page, page_size: 200, ordering: "name" } } })),
      ),
  });

  function refresh() {
    void queryClient.invalidateQueries({ queryKey: ["agents"] });
    void queryClient.invalidateQueries({ queryKey: ["leads"] });
    void queryClient.invalidateQueries({ queryKey: ["dashboard"] });
  }

  function failed(error: Error) {
    setServerProblems(error instanceof ApiError ? fieldErrors(error.body) : {});
    setNotice({ ok: false, text: error.message });
  }

  const create = useMutation({
    mutationFn: async (body: AgentCreate) => unwrap(await api.POST("/api/v1/agents/", { body })),
    onSuccess: (agent) => {
      setCreating(false);
      setServerProblems({});
      setNotice({ ok: true, text: `Agent ${agent.name} created.` });
      refresh();
    },
    onError: failed,
  });
  const update = useMutation({
    mutationFn: async ({ id, body }: { id: number; body: AgentCreate }) => {
      // The form edits none of these: a PATCH that sent them would undo the agent's own
      // choice of assignment emails (notify_assignments, set from their profile).
      const { accepts_leads: _ignored, password: _none, notify_assignments: _theirs, ...patch } = body;
      return unwrap(await api.PATCH("/api/v1/agents/{id}/", { params: { path: { id } }, body: patch }));
    },
    onSuccess: (agent) => {
      setEditing(null);
      setServerProblems({});
      setNotice({ ok: true, text: `Agent ${agent.name} saved.` });
      refresh();
    },
    onError: failed,
  });
  const deactivate = useMutation({
    mutationFn: async (agent: Agent) => {
      const result = await api.DELETE("/api/v1/agents/{id}/", { params: { path: { id: agent.id } } });
      if (!result.response.ok) throw new ApiError(result.response.status, result.error);
      return agent;
    },
    onSuccess: (agent) => {
      setConfirming(null);
      setNotice({ ok: true, text: `${agent.name} is deactivated; their open leads were redistributed.` });
      refresh();
    },
    onError: (error) => {
      setConfirming(null);
      failed(error);
    },
  });
  const distribute = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/v1/distribute/", { body: { dry_run: false } })),
    onSuccess: (result) => {
      setNotice({
        ok: true,
        text: `Distributed ${result.assigned} leads${result.unassigned > 0 ? `; ${result.unassigned} left unassigned` : ""}.`,
      });
      refresh();
    },
    onError: failed,
  });

  return (
    <section>
      <h1>Agents</h1>
      <div className="actions">
        <button
          type="button"
          disabled={!online}
          onClick={() => {
            setCreating(true);
            setEditing(null);
            setServerProblems({});
          }}
        >
          New agent
        </button>
        <button type="button" className="secondary" disabled={!online || distribute.isPending} onClick={() => distribute.mutate()}>
          Distribute unassigned
        </button>
        <DownloadLink href="/api/v1/leads/export.csv" fallbackName="leads.csv">
          Export CSV
        </DownloadLink>
      </div>
      {notice !== null && (
        <p role={notice.ok ? "status" : "alert"} className={notice.ok ? "ok" : "error"}>
          {notice.text}
        </p>
      )}
      {creating && (
        <AgentForm
          initial={EMPTY_AGENT}
          submitLabel="Create agent"
          busy={create.isPending}
          serverProblems={serverProblems}
          onSubmit={(body) => create.mutate(body)}
          onCancel={() => setCreating(false)}
        />
      )}
      {agents.isPending && <p role="status">Loading agents…</p>}
      {agents.isError && (
        <p role="alert" className="error">
          {agents.error.message}
        </p>
      )}
      {agents.data !== undefined && (
        <div className="table-wrap">
          <table className="stacked">
            <caption className="visually-hidden">Agents</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Mobile</th>
                <th scope="col" className="num">Open leads</th>
                <th scope="col" className="num">Weight</th>
                <th scope="col" className="num">Capacity</th>
                <th scope="col">Away until</th>
                <th scope="col">State</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {agents.data.results.map((agent) => (
                <tr key={agent.id}>
                  <td data-label="Name">{agent.name}</td>
                  <td data-label="Email">{agent.email}</td>
                  <td data-label="Mobile">{agent.mobile}</td>
                  <td className="num" data-label="Open leads">{agent.open_leads}</td>
                  <td className="num" data-label="Weight">{agent.weight}</td>
                  <td className="num" data-label="Capacity">{agent.capacity ?? "—"}</td>
                  <td data-label="Away until">{formatDateTime(agent.away_until)}</td>
                  <td data-label="State">{agent.is_active === false ? "Inactive" : "Active"}</td>
                  <td data-label="Actions">
                    {agent.is_active !== false && (
                      <div className="row-actions">
                        <button
                          type="button"
                          className="secondary"
                          disabled={!online}
                          onClick={() => {
                            setEditing(agent.id);
                            setCreating(false);
                            setServerProblems({});
                          }}
                        >
                          Edit
                        </button>
                        <button
                          type="button"
                          className="danger"
                          disabled={!online}
                          onClick={() => setConfirming(agent)}
                        >
                          Deactivate
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {editing !== null &&
        agents.data?.results
          .filter((agent) => agent.id === editing)
          .map((agent) => (
            <section key={agent.id} aria-labelledby="edit-agent-title">
              <h2 id="edit-agent-title">Edit {agent.name}</h2>
              <AgentForm
                initial={agentValues(agent)}
                submitLabel="Save agent"
                busy={update.isPending}
                serverProblems={serverProblems}
                onSubmit={(body) => update.mutate({ id: agent.id, body })}
                onCancel={() => setEditing(null)}
              />
            </section>
          ))}
      {confirming !== null && (
        <ConfirmDeactivate
          agent={confirming}
          busy={deactivate.isPending}
          onConfirm={() => deactivate.mutate(confirming)}
          onCancel={() => setConfirming(null)}
        />
      )}
    </section>
  );
}
