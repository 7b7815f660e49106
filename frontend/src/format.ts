import type { LeadStatus } from "./api/types";

export const STATUS_LABELS: Record<LeadStatus, string> = {
  new: "New",
  contacted: "Contacted",
  qualified: "Qualified",
  converted: "Converted",
  lost: "Lost",
};

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A date-time from the API, in the user's time zone; "—" when empty. */
export function formatDateTime(value: string | null | undefined): string {
  if (value === null || value === undefined || value === "") return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "—" : dateTime.format(date);
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** An API date-time as a `datetime-local` input value (local time, minutes). */
export function toLocalInput(value: string | null | undefined): string {
  if (value === null || value === undefined || value === "") return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A `datetime-local` value as the API's ISO date-time (UTC), null when empty. */
export function fromLocalInput(value: string): string | null {
  if (value === "") return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new RangeError("Enter a valid date and time.");
  return d.toISOString();
}

/** The digits wa.me wants: the E.164 number without "+". */
export function whatsappUrl(phone: string): string {
  return `https://wa.me/${phone.replace(/\D/g, "")}`;
}

export function leadName(lead: { first_name: string; last_name?: string }): string {
  return [lead.first_name, lead.last_name ?? ""].join(" ").trim();
}

/** Start of today and of tomorrow in the user's time zone, as ISO instants. */
export function todayBounds(now: Date = new Date()): { start: string; end: string } {
  const start = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const end = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  return { start: start.toISOString(), end: end.toISOString() };
}
