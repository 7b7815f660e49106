import { useQuery } from "@tanstack/react-query";

import { api, unwrap } from "../api/client";
import { LEAD_STATUSES } from "../api/types";
import { STATUS_LABELS } from "../format";
import { AgentCountsTable } from "./shared";

interface AgentBar {
  id: number;
  name: string;
  open: number;
  total: number;
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? Object.fromEntries(Object.entries(value)) : {};
}

/** The dashboard body (published as a free-form object) read defensively. */
export function readDashboard(body: unknown) {
  const data = record(body);
  const totals = record(data.totals);
  const perAgent: AgentBar[] = (Array.isArray(data.per_agent) ? data.per_agent : []).map((item: unknown) => {
    const row = record(item);
    return {
      id: num(row.agent_id),
      name: typeof row.name === "string" ? row.name : "",
      open: num(row.open),
      total: num(row.total),
    };
  });
  return {
    totals: Object.fromEntries(Object.entries(totals).map(([key, value]) => [key, num(value)])),
    unassigned: num(data.unassigned),
    perAgent,
  };
}

const BAR_HEIGHT = 22;
const LABEL_WIDTH = 150;
const CHART_WIDTH = 640;

/** Open and total leads per agent as horizontal bars (plain SVG). */
function AgentChart({ rows }: { rows: AgentBar[] }) {
  const max = Math.max(1, ...rows.map((row) => row.total));
  const barSpace = CHART_WIDTH - LABEL_WIDTH - 60;
  const height = rows.length * (BAR_HEIGHT + 8) + 8;
  return (
    <svg className="chart" viewBox={`0 0 ${CHART_WIDTH} ${height}`} role="img" aria-labelledby="chart-title">
      <title id="chart-title">Leads per agent (bar: all leads; darker: open)</title>
      {rows.map((row, index) => {
        const y = 8 + index * (BAR_HEIGHT + 8);
        const total = (row.total / max) * barSpace;
        const open = (row.open / max) * barSpace;
        return (
          <g key={row.id}>
            <text x={LABEL_WIDTH - 8} y={y + BAR_HEIGHT * 0.7} textAnchor="end">
              {row.name.length > 20 ? `${row.name.slice(0, 19)}…` : row.name}
            </text>
            <rect x={LABEL_WIDTH} y={y} width={total} height={BAR_HEIGHT} className="total" />
            <rect x={LABEL_WIDTH} y={y} width={open} height={BAR_HEIGHT} />
            <text x={LABEL_WIDTH + total + 6} y={y + BAR_HEIGHT * 0.7}>
              {row.total}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

export default function Dashboard() {
  const dashboard = useQuery({
    queryKey: ["dashboard"],
    queryFn: async () => readDashboard(unwrap(await api.GET("/api/v1/dashboard/"))),
  });
  const data = dashboard.data;
  return (
    <section>
      <h1>Dashboard</h1>
      {dashboard.isPending && <p role="status">Loading…</p>}
      {dashboard.isError && (
        <p role="alert" className="error">
          {dashboard.error.message}
        </p>
      )}
      {data !== undefined && (
        <>
          <ul className="stats" aria-label="Lead counts">
            <li>
              All leads <strong>{data.totals.all ?? 0}</strong>
            </li>
            <li>
              Open <strong>{data.totals.open ?? 0}</strong>
            </li>
            <li>
              Unassigned <strong>{data.unassigned}</strong>
            </li>
            {LEAD_STATUSES.map((status) => (
              <li key={status}>
                {STATUS_LABELS[status]} <strong>{data.totals[status] ?? 0}</strong>
              </li>
            ))}
          </ul>
          <section className="card" aria-labelledby="per-agent">
            <h2 id="per-agent">Leads per agent</h2>
            {data.perAgent.length === 0 ? <p className="empty">No agents yet.</p> : <AgentChart rows={data.perAgent} />}
            <AgentCountsTable
              rows={data.perAgent.map((row) => ({ id: row.id, name: row.name, leads: row.total }))}
              caption="Leads per agent"
            />
          </section>
        </>
      )}
    </section>
  );
}
