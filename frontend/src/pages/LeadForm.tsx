import { useState, type FormEvent } from "react";

import { LEAD_STATUSES, type Lead, type LeadPatch, type LeadStatus } from "../api/types";
import { fromLocalInput, STATUS_LABELS, toLocalInput } from "../format";

export const NOTES_MAX = 5000;

interface Values {
  status: LeadStatus;
  notes: string;
  followUp: string;
}

export function valuesOf(lead: Lead): Values {
  return { status: lead.status ?? "new", notes: lead.notes ?? "", followUp: toLocalInput(lead.next_follow_up) };
}

/** The form's values as a PATCH body, or the first validation message. */
export function toPatch(values: Values): { patch: LeadPatch } | { problem: string } {
  if (values.notes.length > NOTES_MAX) return { problem: `Notes can be at most ${NOTES_MAX} characters.` };
  let followUp: string | null;
  try {
    followUp = fromLocalInput(values.followUp);
  } catch {
    return { problem: "Next follow-up: enter a valid date and time." };
  }
  return { patch: { status: values.status, notes: values.notes, next_follow_up: followUp } };
}

/**
 * The lead's edit form (status, notes, next follow-up). Its values follow the
 * lead it is given (`key` it by the lead's version to reset after a rollback).
 */
export function LeadForm({
  lead,
  disabled,
  saving,
  onSave,
}: {
  lead: Lead;
  disabled: boolean;
  saving: boolean;
  onSave: (patch: LeadPatch) => void;
}) {
  const [values, setValues] = useState<Values>(() => valuesOf(lead));
  const [problem, setProblem] = useState<string | null>(null);

  function submit(event: FormEvent) {
    event.preventDefault();
    const result = toPatch(values);
    if ("problem" in result) {
      setProblem(result.problem);
      return;
    }
    setProblem(null);
    onSave(result.patch);
  }

  return (
    <form className="card lead-form" onSubmit={submit} aria-label="Edit lead">
      {problem !== null && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      <label htmlFor="lead-status">Status</label>
      <select
        id="lead-status"
        value={values.status}
        onChange={(event) => {
          const status = LEAD_STATUSES.find((s) => s === event.target.value);
          if (status !== undefined) setValues({ ...values, status });
        }}
      >
        {LEAD_STATUSES.map((status) => (
          <option key={status} value={status}>
            {STATUS_LABELS[status]}
          </option>
        ))}
      </select>
      <label htmlFor="lead-notes">Notes</label>
      <textarea
        id="lead-notes"
        rows={5}
        maxLength={NOTES_MAX}
        value={values.notes}
        onChange={(event) => setValues({ ...values, notes: event.target.value })}
      />
      <label htmlFor="lead-follow-up">Next follow-up</label>
      <input
        id="lead-follow-up"
        type="datetime-local"
        value={values.followUp}
        onChange={(event) => setValues({ ...values, followUp: event.target.value })}
      />
      <button type="submit" disabled={disabled || saving}>
        Save
      </button>
    </form>
  );
}
