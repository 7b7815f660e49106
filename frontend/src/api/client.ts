import createClient from "openapi-fetch";

import type { paths } from "./schema";
import { authFetch } from "./session";

/** The typed API client: paths, parameters and bodies come from the schema. */
export const api = createClient<paths>({
  baseUrl: typeof window === "undefined" ? "http://localhost" : window.location.origin,
  fetch: authFetch,
});

/** The message of an error envelope (`{"error": {"message"}}`), or `fallback`. */
export function errorMessage(error: unknown, fallback = "Something went wrong. Try again."): string {
  if (typeof error === "object" && error !== null && "error" in error) {
    const inner: unknown = error.error;
    if (typeof inner === "object" && inner !== null && "message" in inner) {
      const message: unknown = inner.message;
      if (typeof message === "string" && message !== "") return message;
    }
  }
  if (error instanceof TypeError) return "The server cannot be reached. Check your connection.";
  if (error instanceof Error && error.message !== "") return error.message;
  return fallback;
}

/** Field messages of an error envelope (`{"error": {"fields": {name: [...]}}}`). */
export function fieldErrors(error: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof error !== "object" || error === null || !("error" in error)) return out;
  const inner: unknown = error.error;
  if (typeof inner !== "object" || inner === null || !("fields" in inner)) return out;
  const fields: unknown = inner.fields;
  if (typeof fields !== "object" || fields === null) return out;
  for (const [name, value] of Object.entries(fields)) {
    if (Array.isArray(value)) out[name] = value.map(String).join(" ");
    else if (typeof value === "string") out[name] = value;
  }
  return out;
}

/** An API failure carrying the HTTP status and the envelope's message. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    super(errorMessage(body, `The server answered ${status}.`));
    this.status = status;
    this.body = body;
  }
}

/** Unwraps an openapi-fetch result: the data, or an ApiError. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok && result.data !== undefined) return result.data;
  throw new ApiError(result.response.status, result.error);
}

/**
 * Every row of a paginated list: its pages fetched in turn while the API names a `next`
 * one (a page holds at most 200 rows; a desk may have more agents than that).
 */
export async function allPages<T>(
  fetchPage: (page: number) => Promise<{ next?: string | null; results: T[] }>,
): Promise<{ results: T[] }> {
  const results: T[] = [];
  for (let page = 1; page <= 1000; page += 1) {
    const data = await fetchPage(page);
    results.push(...data.results);
    if (!data.next || data.results.length === 0) break;
  }
  return { results };
}

/** The id of a queued job in a 202 body (`{"id": ...}`), or null. */
function queuedJobId(body: unknown): number | null {
  if (typeof body === "object" && body !== null && "id" in body && typeof body.id === "number") return body.id;
  return null;
}

/**
 * Downloads an API file (CSV) with the session's token, as the browser would a
 * link, and resolves to null. A big lead export is written by a worker
 * instead: the server answers 202 with the export job, whose id this resolves
 * to (nothing saved); the caller follows the job to its download link.
 */
export async function download(url: string, fallbackName: string): Promise<number | null> {
  const response = await authFetch(new Request(new URL(url, window.location.origin)));
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw new ApiError(response.status, body);
  }
  if (response.status === 202) {
    const body: unknown = await response.json().catch(() => null);
    const jobId = queuedJobId(body);
    if (jobId === null) throw new ApiError(response.status, body);
    return jobId;
  }
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName;
  const href = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = href;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 1000);
  return null;
}
