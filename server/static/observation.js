// The observation page: draw the plots the server prepared, toggle log axes,
// and fill the cite box from the API. No framework: plotly.js does the plotting.
"use strict";

(function drawPlots() {
  const source = document.getElementById("tycho-plots");
  if (!source) return;
  if (!window.Plotly) {
    document.querySelectorAll(".plot").forEach((el) => {
      el.textContent = "The plotting library did not load; the data is in the JSON link above.";
    });
    return;
  }
  const config = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["lasso2d", "select2d"],
    toImageButtonOptions: { format: "svg" },
  };
  for (const panel of JSON.parse(source.textContent)) {
    Plotly.newPlot(document.getElementById(panel.id), panel.data, panel.layout, config);
  }
  document.querySelectorAll("button[data-log-axis]").forEach((button) => {
    button.addEventListener("click", () => {
      const plot = document.getElementById(button.dataset.plot);
      const axis = button.dataset.logAxis + "axis";
      const toLog = button.getAttribute("aria-pressed") !== "true";
      Plotly.relayout(plot, { [axis + ".type"]: toLog ? "log" : "linear", [axis + ".autorange"]: true });
      button.setAttribute("aria-pressed", String(toLog));
    });
  });
})();

function indentJson(body) {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch (error) {
    return body;
  }
}

(function fillCiteBox() {
  const box = document.getElementById("cite");
  if (!box) return;
  const ref = box.dataset.ref;
  box.querySelectorAll(".cite-entry").forEach(async (entry) => {
    const text = entry.querySelector(".cite-text");
    const copy = entry.querySelector(".copy");
    // The entry's "raw" link is the API's citation in this format.
    const url = entry.querySelector("a.twin").getAttribute("href");
    try {
      const response = await fetch(url, { headers: { Accept: "text/plain, application/json" } });
      if (!response.ok) throw new Error(`the server answered ${response.status} ${response.statusText}`);
      const body = await response.text();
      // CSL-JSON may come compact; show it indented like the other two formats.
      text.textContent = entry.dataset.format === "csl-json" ? indentJson(body) : body;
      copy.disabled = false;
    } catch (error) {
      entry.classList.add("cite-failed");
      text.textContent = `Citation unavailable: ${error.message}. ` +
        `Cite it by its id, ${ref}, and this page's address.`;
      return;
    }
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(text.textContent);
        copy.textContent = "Copied";
      } catch (error) {
        copy.textContent = "Copy failed: select the text";
      }
      setTimeout(() => { copy.textContent = "Copy"; }, 2000);
    });
  });
})();

// While a verification is queued or running, fetch its panel every few seconds and
// show it in place; once the verdict is in, reload to show the runs and claims.
(function followVerification() {
  const POLL_MS = 3000;
  let panel = document.getElementById("verification-progress");
  if (!panel || !panel.dataset.poll) return;
  const url = panel.dataset.poll;
  async function refresh() {
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (!response.ok) throw new Error(`${response.status}`);
      const fragment = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = fragment.getElementById("verification-progress");
      if (!fresh) throw new Error("no panel in the answer");
      if (!["queued", "running"].includes(fresh.dataset.status)) {
        window.location.reload();
        return;
      }
      panel.replaceWith(fresh);
      panel = fresh;
    } catch (error) {
      panel.dataset.stale = "true";  // keep the last state; try again at the next tick
    }
    setTimeout(refresh, POLL_MS);
  }
  setTimeout(refresh, POLL_MS);
})();
