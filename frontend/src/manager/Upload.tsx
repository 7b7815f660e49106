import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState, type DragEvent } from "react";
import { Link } from "react-router";

import { api, ApiError, unwrap } from "../api/client";
import type { ImportBatch } from "../api/types";
import { uploadLeadFile } from "../api/upload";
import { useOnline } from "../online";
import { BatchProgress, BatchView, isBusy } from "./BatchView";

export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
const ACCEPT = ".csv,.xlsx,.xls,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,application/vnd.ms-excel";

/** Why this file cannot be uploaded, or null. */
export function fileProblem(file: File | null): string | null {
  if (file === null) return "Choose a lead file first.";
  if (file.size === 0) return "The file is empty.";
  if (file.size > MAX_UPLOAD_BYTES) return "The file is larger than 10 MB.";
  if (!/\.(csv|xlsx|xls)$/i.test(file.name)) return "Use a .csv, .xlsx or .xls file.";
  return null;
}

/**
 * The live batch of the same file named by a `duplicate_file` refusal (409,
 * `{"error": {"batch": id}}`), or null: the screen links to it, since the
 * refusal's "force=true" is not something this screen offers.
 */
export function duplicateOf(error: unknown): number | null {
  if (!(error instanceof ApiError)) return null;
  const body = error.body;
  if (typeof body !== "object" || body === null || !("error" in body)) return null;
  const inner: unknown = body.error;
  if (typeof inner !== "object" || inner === null || !("code" in inner) || inner.code !== "duplicate_file") return null;
  return "batch" in inner && typeof inner.batch === "number" ? inner.batch : null;
}

/** Polls a batch while the server is still processing it (a queued import). */
function useBatch(initial: ImportBatch | null) {
  return useQuery({
    queryKey: ["import", initial?.id],
    enabled: initial !== null,
    initialData: initial ?? undefined,
    queryFn: async () => {
      const id = initial?.id ?? 0;
      return unwrap(await api.GET("/api/v1/imports/{id}/", { params: { path: { id } } }));
    },
    refetchInterval: (query) => (isBusy(query.state.data ?? null) ? 1000 : false),
  });
}

export default function Upload() {
  const online = useOnline();
  const queryClient = useQueryClient();
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [over, setOver] = useState(false);
  const [progress, setProgress] = useState<{ loaded: number; total: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [duplicate, setDuplicate] = useState<number | null>(null);
  const [uploaded, setUploaded] = useState<ImportBatch | null>(null);
  const batch = useBatch(uploaded).data ?? null;

  const preview = useMutation({
    mutationFn: (chosen: File) =>
      uploadLeadFile(chosen, (loaded, total) => setProgress({ loaded, total })),
    onMutate: () => {
      setError(null);
      setDuplicate(null);
      setProgress({ loaded: 0, total: file?.size ?? 0 });
    },
    onSuccess: (result) => {
      setUploaded(result);
      queryClient.setQueryData(["import", result.id], result);
    },
    onError: (caught) => {
      setError(caught.message);
      setDuplicate(duplicateOf(caught));
    },
    onSettled: () => setProgress(null),
  });

  const commit = useMutation({
    mutationFn: async (id: number) =>
      unwrap(await api.POST("/api/v1/imports/{id}/commit/", { params: { path: { id } } })),
    onSuccess: (result) => {
      setUploaded(result);
      queryClient.setQueryData(["import", result.id], result);
      void queryClient.invalidateQueries({ queryKey: ["leads"] });
      void queryClient.invalidateQueries({ queryKey: ["imports"] });
      void queryClient.invalidateQueries({ queryKey: ["dashboard"] });
    },
    onError: (caught) => setError(caught.message),
  });

  function choose(chosen: File | null) {
    setFile(chosen);
    setDuplicate(null);
    setUploaded(null);
    setError(chosen === null ? null : fileProblem(chosen));
  }

  function drop(event: DragEvent) {
    event.preventDefault();
    setOver(false);
    choose(event.dataTransfer.files[0] ?? null);
  }

  function startOver() {
    setUploaded(null);
    setFile(null);
    setError(null);
    if (input.current !== null) input.current.value = "";
  }

  /** The preview's batch is discarded on the server (its file deleted), then the form is back. */
  const discard = useMutation({
    mutationFn: async (id: number) =>
      unwrap(await api.POST("/api/v1/imports/{id}/discard/", { params: { path: { id } } })),
    onSuccess: (result) => {
      queryClient.setQueryData(["import", result.id], result);
      void queryClient.invalidateQueries({ queryKey: ["imports"] });
      startOver();
    },
    onError: (caught) => setError(caught.message),
  });

  const cancel = useMutation({
    mutationFn: async (id: number) =>
      unwrap(await api.POST("/api/v1/imports/{id}/cancel/", { params: { path: { id } } })),
    onSuccess: (result) => queryClient.setQueryData(["import", result.id], result),
    onError: (caught) => setError(caught.message),
  });

  const state = batch?.state;
  const busy = isBusy(batch);
  return (
    <section>
      <h1>{state === "committed" ? "Committed" : "Upload leads"}</h1>
      <p>
        <Link to="/imports">All imports</Link>
      </p>
      {!busy && state !== "committed" && state !== "preview" && (
        <form
          className="card"
          aria-label="Choose a file to import"
          onSubmit={(event) => {
            event.preventDefault();
            const problem = fileProblem(file);
            if (problem !== null || file === null) setError(problem);
            else preview.mutate(file);
          }}
        >
          <div
            className={over ? "dropzone over" : "dropzone"}
            onDragOver={(event) => {
              event.preventDefault();
              setOver(true);
            }}
            onDragLeave={() => setOver(false)}
            onDrop={drop}
          >
            <label htmlFor="lead-file">Lead file</label>
            <p className="meta" id="lead-file-help">
              Drop a .csv, .xlsx or .xls file here (at most 10 MB), or choose one.
            </p>
            <input
              id="lead-file"
              ref={input}
              type="file"
              accept={ACCEPT}
              aria-describedby="lead-file-help"
              onChange={(event) => choose(event.target.files?.[0] ?? null)}
            />
            {file !== null && <p>{file.name}</p>}
          </div>
          {progress !== null && (
            <>
              <label htmlFor="upload-progress">Uploading</label>
              <progress id="upload-progress" max={progress.total || 1} value={progress.loaded}>
                {Math.round((progress.loaded / (progress.total || 1)) * 100)}%
              </progress>
            </>
          )}
          <div className="actions">
            <button type="submit" disabled={!online || preview.isPending || file === null}>
              Preview
            </button>
          </div>
        </form>
      )}
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {duplicate !== null && (
        <p>
          <Link to={`/imports/${duplicate}`}>Open import #{duplicate}</Link>
        </p>
      )}
      {batch !== null && busy && (
        <div className="card">
          <BatchProgress batch={batch} />
          <div className="actions">
            <button type="button" className="secondary" disabled={!online || cancel.isPending} onClick={() => cancel.mutate(batch.id)}>
              Cancel import
            </button>
          </div>
        </div>
      )}
      {state === "cancelled" && <p role="status">The import was cancelled; nothing of it was written.</p>}
      {state === "failed" && (
        <p role="alert" className="error">
          The import failed{batch?.message ? `: ${batch.message}` : "."}
        </p>
      )}
      {batch !== null && (state === "preview" || state === "committed") && (
        <>
          {state === "preview" && (
            <div className="actions">
              <button type="button" disabled={!online || commit.isPending} onClick={() => commit.mutate(batch.id)}>
                Commit
              </button>
              <button
                type="button"
                className="secondary"
                disabled={!online || discard.isPending || commit.isPending}
                onClick={() => discard.mutate(batch.id)}
              >
                Discard
              </button>
            </div>
          )}
          <BatchView batch={batch} />
          {state === "committed" && (
            <div className="actions">
              <Link to={`/imports/${batch.id}`}>Open this import</Link>
              <button type="button" className="secondary" onClick={startOver}>
                Upload another file
              </button>
            </div>
          )}
        </>
      )}
    </section>
  );
}
