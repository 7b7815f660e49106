import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";

import { api, unwrap } from "../api/client";
import { formatDateTime } from "../format";

const PAGE_SIZE = 25;

export default function ImportsList() {
  const [page, setPage] = useState(1);
  const imports = useQuery({
    queryKey: ["imports", page],
    queryFn: async () => unwrap(await api.GET("/api/v1/imports/", { params: { query: { page, page_size: PAGE_SIZE } } })),
    placeholderData: keepPreviousData,
  });
  const data = imports.data;
  return (
    <section>
      <h1>Imports</h1>
      <div className="actions">
        <Link to="/imports/new">New import</Link>
      </div>
      {imports.isPending && <p role="status">Loading imports…</p>}
      {imports.isError && (
        <p role="alert" className="error">
          {imports.error.message}
        </p>
      )}
      {data !== undefined && (
        <>
          <div className="table-wrap">
            <table className="stacked">
              <thead>
                <tr>
                  <th scope="col">File</th>
                  <th scope="col">State</th>
                  <th scope="col">Uploaded</th>
                  <th scope="col" className="num">Rows</th>
                  <th scope="col" className="num">New</th>
                  <th scope="col" className="num">Duplicates</th>
                  <th scope="col" className="num">Invalid</th>
                </tr>
              </thead>
              <tbody>
                {data.results.map((batch) => (
                  <tr key={batch.id}>
                    <td data-label="File">
                      <Link to={`/imports/${batch.id}`}>{batch.file_name || `Import #${batch.id}`}</Link>
                    </td>
                    <td data-label="State">{batch.state}</td>
                    <td data-label="Uploaded">{formatDateTime(batch.created_at)}</td>
                    <td data-label="Rows" className="num">{batch.rows}</td>
                    <td data-label="New" className="num">{batch.created}</td>
                    <td data-label="Duplicates" className="num">{batch.duplicates}</td>
                    <td data-label="Invalid" className="num">{batch.invalid}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {data.results.length === 0 && <p className="empty">No imports yet.</p>}
          <div className="pager">
            <button type="button" className="secondary" disabled={page <= 1} onClick={() => setPage(page - 1)}>
              Previous page
            </button>
            <span>Page {page}</span>
            <button
              type="button"
              className="secondary"
              disabled={data.next === null || data.next === undefined}
              onClick={() => setPage(page + 1)}
            >
              Next page
            </button>
          </div>
        </>
      )}
    </section>
  );
}
