import { vi } from "vitest";

export type Handler = (request: Request) => Response | Promise<Response>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function envelope(status: number, code: string, message: string): Response {
  return json(status, { error: { code, message, fields: {} } });
}

/** Replaces `fetch` with `handler` (the server is outside the process); returns the calls. */
export function fakeServer(handler: Handler): Request[] {
  const calls: Request[] = [];
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(input, init);
    calls.push(request.clone());
    return handler(request);
  });
  return calls;
}

export function path(request: Request): string {
  return new URL(request.url).pathname;
}
