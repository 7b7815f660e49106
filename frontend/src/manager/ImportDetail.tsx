import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";

import { api, ApiError, unwrap } from "../api/client";
import { NotFound } from "../pages/NotFound";
import { BatchProgress, BatchView, isBusy } from "./BatchView";

export default function ImportDetail() {
  const params = useParams();
  const id = Number(params.id);
  const valid = Number.isSafeInteger(id) && id > 0;
  const queryClient = useQueryClient();
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const batch = useQuery({
    queryKey: ["import", id],
    enabled: valid,
    queryFn: async () => unwrap(await api.GET("/api/v1/imports/{id}/", { params: { path: { id } } })),
    // Queued work (a commit or undo answered 202) is followed until a worker finishes it.
    refetchInterval: (query) => (isBusy(query.state.data) ? 1000 : false),
  });
  const commit = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/v1/imports/{id}/commit/", { params: { path: { id } } })),
    onSuccess: (result) => {
      queryClient.setQueryData(["import", id], result);
      // 200: committed in the request; 202: queued for a worker (the batch shows its progress).
      setMessage({ ok: true, text: result.state === "committed" ? "Committed" : "Commit queued." });
    },
    onError: (error) => setMessage({ ok: false, text: error.message }),
  });
  const undo = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/v1/imports/{id}/undo/", { params: { path: { id } } })),
    onSuccess: (result) => {
      void queryClient.invalidateQueries({ queryKey: ["import", id] });
      // 200: undone in the request; 202: queued for a worker (the batch shows its progress).
      setMessage({
        ok: true,
        text: "removed" in result ? `Undone: ${result.removed} leads removed, ${result.kept.length} kept.` : "Undo queued.",
      });
    },
    onError: (error) => setMessage({ ok: false, text: error.message }),
  });

  if (!valid || (batch.error instanceof ApiError && batch.error.status === 404)) return <NotFound />;
  return (
    <section>
      <p>
        <Link to="/imports">All imports</Link>
      </p>
      <h1>Import #{id}</h1>
      {batch.isError && (
        <p role="alert" className="error">
          {batch.error.message}
        </p>
      )}
      {message !== null && (
        <p role={message.ok ? "status" : "alert"} className={message.ok ? "ok" : "error"}>
          {message.text}
        </p>
      )}
      {batch.data !== undefined && (
        <>
          <div className="actions">
            {batch.data.state === "preview" && (
              <button type="button" disabled={commit.isPending} onClick={() => commit.mutate()}>
                Commit
              </button>
            )}
            {batch.data.state === "committed" && (
              <button type="button" className="danger" disabled={undo.isPending} onClick={() => {
                  if (window.confirm("Undo this import? Its leads that nobody has worked are removed.")) undo.mutate();
                }}>
                Undo import
              </button>
            )}
          </div>
          {isBusy(batch.data) && (
            <div className="card">
              <BatchProgress batch={batch.data} />
            </div>
          )}
          <BatchView batch={batch.data} />
        </>
      )}
    </section>
  );
}
