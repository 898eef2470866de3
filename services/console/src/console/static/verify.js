// Runs audit-log's full verification through the console and shows its progress (elapsed time) meanwhile.
"use strict";

(function () {
  const form = document.getElementById("verify-form");
  const progress = document.getElementById("verify-progress");
  const status = document.getElementById("verify-status");
  const result = document.getElementById("verify-result");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.querySelector("button").disabled = true;
    progress.hidden = false;
    result.hidden = true;
    const started = performance.now();
    const timer = setInterval(() => {
      status.textContent = "Verifying every leaf, node and column … " + ((performance.now() - started) / 1000).toFixed(1) + " s";
    }, 200);
    try {
      const response = await fetch("/log/verify.json", { credentials: "same-origin", headers: { Accept: "application/json" } });
      const report = await response.json();
      result.replaceChildren();
      const p = document.createElement("p");
      if (!response.ok) {
        p.className = "problem";
        p.textContent = report.refused || ((report.problem && (report.problem.title + ": " + (report.problem.detail || ""))) || "failed");
        result.dataset.ok = "false";
      } else {
        p.className = report.ok ? "done" : "problem";
        p.textContent = (report.ok ? "OK" : "FAILED") + ": " + report.tree_size + " entries, root " + report.root_hash + ", in " + report.seconds + " s.";
        result.dataset.ok = String(report.ok);
      }
      result.appendChild(p);
      for (const pr of report.problems || []) {
        const line = document.createElement("p");
        line.className = "problem";
        line.textContent = (pr.index !== null ? "entry " + pr.index + ": " : "") + pr.problem;
        result.appendChild(line);
      }
    } catch (e) {
      result.textContent = "The verification could not be run: " + e.message;
      result.dataset.ok = "false";
    } finally {
      clearInterval(timer);
      progress.hidden = true;
      result.hidden = false;
      form.querySelector("button").disabled = false;
    }
  });
})();
