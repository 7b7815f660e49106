import { useState, type FormEvent } from "react";

import type { Agent, AgentCreate } from "../api/types";
import { fromLocalInput, toLocalInput } from "../format";

export interface AgentFormValues {
  name: string;
  email: string;
  mobile: string;
  countryCode: string;
  weight: string;
  capacity: string;
  awayUntil: string;
}

export const EMPTY_AGENT: AgentFormValues = {
  name: "",
  email: "",
  mobile: "",
  countryCode: "+91",
  weight: "1",
  capacity: "",
  awayUntil: "",
};

export function agentValues(agent: Agent): AgentFormValues {
  return {
    name: agent.name,
    email: agent.email,
    mobile: agent.mobile,
    countryCode: "",
    weight: String(agent.weight ?? 1),
    capacity: agent.capacity === null || agent.capacity === undefined ? "" : String(agent.capacity),
    awayUntil: toLocalInput(agent.away_until),
  };
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The create body for the form's values, or a message per field. */
export function agentBody(values: AgentFormValues): { body: AgentCreate } | { problems: Partial<Record<keyof AgentFormValues, string>> } {
  const problems: Partial<Record<keyof AgentFormValues, string>> = {};
  const name = values.name.trim();
  const email = values.email.trim();
  if (name === "") problems.name = "Enter the agent's name.";
  if (!EMAIL.test(email)) problems.email = "Enter a valid email address.";
  let mobile = values.mobile.trim();
  const mobileDigits = mobile.replace(/\D/g, "");
  if (mobileDigits.length < 6) problems.mobile = "Enter the mobile number.";
  else if (!mobile.startsWith("+")) {
    const code = values.countryCode.replace(/\D/g, "");
    if (code === "") problems.countryCode = "Enter the country code, e.g. +91.";
    else mobile = `+${code}${mobileDigits}`;
  } else mobile = `+${mobileDigits}`;
  const weight = Number(values.weight);
  if (!Number.isInteger(weight) || weight < 1 || weight > 1000) problems.weight = "A whole number from 1 to 1000.";
  let capacity: number | null = null;
  if (values.capacity.trim() !== "") {
    capacity = Number(values.capacity);
    if (!Number.isInteger(capacity) || capacity < 0) problems.capacity = "A whole number, or empty for no limit.";
  }
  let awayUntil: string | null = null;
  try {
    awayUntil = fromLocalInput(values.awayUntil);
  } catch {
    problems.awayUntil = "Enter a valid date and time.";
  }
  if (Object.keys(problems).length > 0) return { problems };
  return {
    body: { name, email, mobile, weight, capacity, away_until: awayUntil, accepts_leads: true, notify_assignments: true },
  };
}

const FIELDS: { key: keyof AgentFormValues; label: string; type: string; autoComplete?: string }[] = [
  { key: "name", label: "Name", type: "text", autoComplete: "off" },
  { key: "email", label: "Email", type: "email", autoComplete: "off" },
  { key: "mobile", label: "Mobile", type: "tel" },
  { key: "countryCode", label: "Country code", type: "text" },
  { key: "weight", label: "Weight", type: "number" },
  { key: "capacity", label: "Capacity", type: "number" },
  { key: "awayUntil", label: "Away until", type: "datetime-local" },
];

export function AgentForm({
  initial,
  submitLabel,
  busy,
  serverProblems,
  onSubmit,
  onCancel,
}: {
  initial: AgentFormValues;
  submitLabel: string;
  busy: boolean;
  serverProblems: Record<string, string>;
  onSubmit: (body: AgentCreate) => void;
  onCancel: () => void;
}) {
  const [values, setValues] = useState(initial);
  const [problems, setProblems] = useState<Partial<Record<keyof AgentFormValues, string>>>({});
  const prefix = submitLabel.replace(/\W+/g, "-").toLowerCase();

  function submit(event: FormEvent) {
    event.preventDefault();
    const result = agentBody(values);
    if ("problems" in result) {
      setProblems(result.problems);
      return;
    }
    setProblems({});
    onSubmit(result.body);
  }

  const serverKey: Record<keyof AgentFormValues, string> = {
    name: "name",
    email: "email",
    mobile: "mobile",
    countryCode: "mobile",
    weight: "weight",
    capacity: "capacity",
    awayUntil: "away_until",
  };

  return (
    <form className="card" onSubmit={submit} noValidate aria-label={submitLabel}>
      <div className="form-grid">
        {FIELDS.map((field) => {
          const id = `${prefix}-${field.key}`;
          const problem = problems[field.key] ?? (field.key === "countryCode" ? undefined : serverProblems[serverKey[field.key]]);
          return (
            <div key={field.key}>
              <label htmlFor={id}>{field.label}</label>
              <input
                id={id}
                type={field.type}
                autoComplete={field.autoComplete}
                value={values[field.key]}
                aria-invalid={problem !== undefined}
                aria-describedby={problem !== undefined ? `${id}-problem` : undefined}
                min={field.type === "number" ? (field.key === "weight" ? 1 : 0) : undefined}
                onChange={(event) => setValues({ ...values, [field.key]: event.target.value })}
              />
              {problem !== undefined && (
                <p id={`${id}-problem`} className="error">
                  {problem}
                </p>
              )}
            </div>
          );
        })}
      </div>
      <div className="actions">
        <button type="submit" disabled={busy}>
          {submitLabel}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
