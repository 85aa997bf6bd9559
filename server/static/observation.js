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
