import { useQuery } from "@tanstack/react-query";
import { useState } from "react";

import { allPages, api, download, errorMessage, unwrap } from "../api/client";

/** Active and inactive agents by id (names for per-agent counts). */
export function useAgentNames(): Map<number, string> {
  const agents = useQuery({
    queryKey: ["agents", "all"],
    queryFn: () =>
      allPages(async (page) =>
        unwrap(await api.GET("/api/v1/agents/", { params: { query: { page, page_size: 200, ordering: "name" } } })),
      ),
  });
  return new Map((agents.data?.results ?? []).map((agent) => [agent.id, agent.name]));
}

/** `{"<agent id>": count}` (a batch's per_agent) as sorted rows. */
export function perAgentRows(value: unknown, names: Map<number, string>): { id: number; name: string; leads: number }[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [];
  const rows: { id: number; name: string; leads: number }[] = [];
  for (const [key, count] of Object.entries(value)) {
    const id = Number(key);
    if (typeof count === "number" && Number.isInteger(id)) rows.push({ id, name: names.get(id) ?? `Agent #${id}`, leads: count });
  }
  return rows.sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
}

export function AgentCountsTable({ rows, caption }: { rows: { id: number; name: string; leads: number }[]; caption: string }) {
  if (rows.length === 0) return <p className="empty">No leads assigned.</p>;
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col" className="num">
              Leads
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id}>
              <td>{row.name}</td>
              <td className="num">{row.leads}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A queued export (`GET /api/v1/leads/exports/{id}/`), polled until a worker has written it. */
function useExportJob(id: number | null) {
  return useQuery({
    queryKey: ["export", id],
    enabled: id !== null,
    queryFn: async () => unwrap(await api.GET("/api/v1/leads/exports/{id}/", { params: { path: { id: id ?? 0 } } })),
    refetchInterval: (query) => {
      const state = query.state.data?.state;
      return state === "done" || state === "failed" ? false : 1000;
    },
  });
}

/**
 * A link to an API file that needs the session's token (fetched, then saved).
 * When the server queues the file instead (a big export: 202), the link says
 * the export is being prepared and offers its own download link once ready.
 */
export function DownloadLink({ href, fallbackName, children }: { href: string; fallbackName: string; children: string }) {
  const [error, setError] = useState<string | null>(null);
  const [jobId, setJobId] = useState<number | null>(null);
  const job = useExportJob(jobId);
  const url = job.data?.state === "done" ? job.data.download_url : null;
  // The link's path on this origin, as every other API call (the server's absolute
  // URL may name another scheme or host behind a proxy).
  const ready = url === null || url === undefined ? null : new URL(url, window.location.origin).pathname;
  return (
    <>
      <a
        href={href}
        onClick={(event) => {
          event.preventDefault();
          setError(null);
          setJobId(null);
          download(href, fallbackName).then(setJobId, (caught: unknown) => setError(errorMessage(caught)));
        }}
      >
        {children}
      </a>
      {error !== null && (
        <span role="alert" className="error">
          {" "}
          {error}
        </span>
      )}
      {jobId !== null && job.isError && (
        <span role="alert" className="error">
          {" "}
          {job.error.message}
        </span>
      )}
      {jobId !== null && ready === null && job.data?.state !== "failed" && !job.isError && (
        <span role="status">
          {" "}
          Preparing the export{job.data !== undefined ? ` (${job.data.rows_total} rows)` : ""}…
        </span>
      )}
      {job.data?.state === "failed" && (
        <span role="alert" className="error">
          {" "}
          The export failed{job.data.message !== "" ? `: ${job.data.message}` : "."}
        </span>
      )}
      {ready !== null && (
        <span role="status">
          {" "}
          The export is ready:{" "}
          <DownloadLink href={ready} fallbackName={fallbackName}>
            Download the export
          </DownloadLink>
        </span>
      )}
    </>
  );
}
