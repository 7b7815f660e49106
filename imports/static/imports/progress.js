// The admin's import progress bar: polls the batch's progress.json every second
// and reloads the page once the batch has left the queue (to show the result).
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box) {
    return;
  }
  var bar = document.getElementById("import-progress-bar");
  var text = document.getElementById("import-progress-text");
  var url = box.getAttribute("data-url");

  function show(body) {
    var p = body.progress || {};
    bar.value = p.percent || 0;
    bar.textContent = (p.percent || 0) + "%";
    var total = p.rows_total ? " of about " + p.rows_total.toLocaleString() : "";
    text.textContent =
      p.stage + ": " + (p.rows_done || 0).toLocaleString() + " rows" + total +
      " (" + (p.percent || 0) + "%)";
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (body) {
        show(body);
        if (body.state === "queued" || body.state === "processing") {
          window.setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () {
        window.setTimeout(poll, 3000);
      });
  }

  window.setTimeout(poll, 1000);
})();
