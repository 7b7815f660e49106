import { ApiError } from "./client";
import { CLIENT_HEADER, CLIENT_NAME, getAccess, refreshAccess } from "./session";
import type { ImportBatch } from "./types";

function send(
  url: string,
  form: FormData,
  token: string | null,
  onProgress: (loaded: number, total: number) => void,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader(CLIENT_HEADER, CLIENT_NAME);
    if (token !== null) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      resolve({ status: xhr.status, body });
    });
    xhr.addEventListener("error", () => reject(new TypeError("The upload failed: the server cannot be reached.")));
    xhr.addEventListener("abort", () => reject(new TypeError("The upload was cancelled.")));
    xhr.send(form);
  });
}

/**
 * Uploads a lead file for a preview (`POST /api/v1/imports/`, multipart) with
 * XMLHttpRequest, the one browser API that reports upload progress; a 401
 * refreshes the token (single flight, as every other call) and retries once.
 */
export async function uploadLeadFile(
  file: File,
  onProgress: (loaded: number, total: number) => void,
): Promise<ImportBatch> {
  const form = new FormData();
  form.append("file", file);
  form.append("preview", "true");
  const url = new URL("/api/v1/imports/", window.location.origin).toString();
  let result = await send(url, form, getAccess(), onProgress);
  if (result.status === 401) {
    const token = await refreshAccess();
    if (token !== null) result = await send(url, form, token, onProgress);
  }
  // 201: processed in the request; 202: queued for a worker (state "queued"), polled by the screen.
  if (result.status !== 201 && result.status !== 200 && result.status !== 202) throw new ApiError(result.status, result.body);
  // The schema's ImportBatchOutput is what this endpoint answers (201 and 202).
  return result.body as ImportBatch;
}
