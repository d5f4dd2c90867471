// The researcher's progress view: asks for the admin token, then shows /api/admin/progress.
"use strict";

const $ = (id) => document.getElementById(id);

function rows(body, records, fields) {
  body.replaceChildren(...records.map((record) => {
    const tr = document.createElement("tr");
    for (const field of fields) {
      const td = document.createElement("td");
      td.textContent = record[field] === null ? "–" : String(record[field]);
      tr.appendChild(td);
    }
    return tr;
  }));
}

async function show(event) {
  event.preventDefault();
  const response = await fetch("/api/admin/progress", {
    headers: { Authorization: "Bearer " + $("token").value }, cache: "no-store",
  });
  const data = await response.json();
  $("message").hidden = response.ok;
  if (!response.ok) { $("message").textContent = data.error; return; }
  $("summary").textContent = `${data.raters.length} rater(s), ${data.finished_raters} finished; ` +
    `${data.repeat_pairs} repeated clip(s) rated twice, mean |difference| ${data.repeat_mean_abs_difference ?? "–"}.`;
  rows($("systems"), data.systems, ["system", "ratings", "assigned", "mean_score"]);
  rows($("raters"), data.raters,
    ["participant", "rated", "assigned", "gold_failed", "gold_answered", "repeat_mean_abs_difference", "joined"]);
  $("report").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => $("login").addEventListener("submit", show));
