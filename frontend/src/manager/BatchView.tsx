import type { ImportBatch } from "../api/types";
import { formatDateTime } from "../format";
import { AgentCountsTable, DownloadLink, perAgentRows, useAgentNames } from "./shared";

const ERRORS_SHOWN = 200;

/** A batch a worker has not finished yet (a queued import, commit or undo). */
export function isBusy(batch: ImportBatch | null | undefined): boolean {
  return batch !== null && batch !== undefined && (batch.state === "queued" || batch.state === "processing");
}

/** The live progress of a busy batch: what runs, rows done, and a progress bar. */
export function BatchProgress({ batch }: { batch: ImportBatch }) {
  const what = batch.action === "commit" ? "Committing" : batch.action === "undo" ? "Undoing" : "Processing the file";
  return (
    <>
      <p role="status">
        {what}
        {batch.state === "queued" ? " (waiting for a worker)" : ""}: {batch.progress.rows_done} rows, {batch.progress.percent}%
      </p>
      <progress aria-label="Import progress" max={100} value={batch.progress.percent}>
        {batch.progress.percent}%
      </progress>
    </>
  );
}

/** A batch's counts, who gets how many, and its row errors. */
export function BatchView({ batch }: { batch: ImportBatch }) {
  const names = useAgentNames();
  const rows = perAgentRows(batch.per_agent, names);
  const errors = batch.errors;
  const isPreview = batch.state === "preview";
  return (
    <div className="batch">
      <ul className="stats" aria-label="Counts">
        <li>
          Rows <strong>{batch.rows ?? 0}</strong>
        </li>
        <li>
          New <strong>{batch.created ?? 0}</strong>
        </li>
        <li>
          Duplicates <strong>{batch.duplicates ?? 0}</strong>
        </li>
        <li>
          Invalid <strong>{batch.invalid ?? 0}</strong>
        </li>
        {!isPreview && (
          <li>
            Unassigned <strong>{batch.unassigned ?? 0}</strong>
          </li>
        )}
      </ul>
      <p className="meta">
        {batch.file_name} · {batch.state ?? ""} · uploaded {formatDateTime(batch.created_at)}
        {batch.message !== undefined && batch.message !== "" ? ` · ${batch.message}` : ""}
      </p>
      <h2>{isPreview ? "Who would get how many" : "Who got how many"}</h2>
      <AgentCountsTable rows={rows} caption="Leads per agent" />
      <h2>Row errors</h2>
      {errors.length === 0 ? (
        <p className="empty">No row errors.</p>
      ) : (
        <>
          <p>
            <DownloadLink href={`/api/v1/imports/${batch.id}/errors.csv`} fallbackName={`import-${batch.id}-errors.csv`}>
              Download errors CSV
            </DownloadLink>
          </p>
          <div className="table-wrap">
            <table>
              <caption className="visually-hidden">Row errors</caption>
              <thead>
                <tr>
                  <th scope="col">Line</th>
                  <th scope="col">Column</th>
                  <th scope="col">Value</th>
                  <th scope="col">Message</th>
                </tr>
              </thead>
              <tbody>
                {errors.slice(0, ERRORS_SHOWN).map((error, index) => (
                  <tr key={`${error.line}:${error.column}:${index}`}>
                    <td>{error.line}</td>
                    <td>{error.column}</td>
                    <td>{error.value}</td>
                    <td>{error.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {errors.length > ERRORS_SHOWN && (
            <p className="meta">
              Showing {ERRORS_SHOWN} of {errors.length} errors; the CSV has them all.
            </p>
          )}
        </>
      )}
    </div>
  );
}
