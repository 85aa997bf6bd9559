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
  const panels = JSON.parse(source.textContent);
  for (const panel of panels) {
    const plot = document.getElementById(panel.id);
    Plotly.newPlot(plot, panel.data, panel.layout, config);
    if (panel.kind === "sweep" || panel.kind === "grid") {
      // A sweep's marker or cell carries its run's page: open it.
      plot.on("plotly_click", (event) => {
        const point = event.points && event.points[0];
        const url = point && point.customdata && point.customdata[0];
        if (url) window.location.assign(url);
      });
    }
  }
  overlaySeries(panels);
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

// The reader's overlay: add any other series of the observation to a plot, in the
// browser, from the traces the page already has (every run of it, as drawn elsewhere).
function overlaySeries(panels) {
  const COLOURS = ["#d9730d", "#2a9d8f", "#c0504d", "#8e6bbf", "#6a994e", "#b08d57", "#4f7cac"];
  const tracesOf = {};  // series name -> its traces, one per run
  for (const panel of panels) {
    for (const trace of panel.data) {
      const series = trace.meta && trace.meta.series;
      if (series && (!tracesOf[series] || tracesOf[series].panel === panel.id)) {
        tracesOf[series] = tracesOf[series] || { panel: panel.id, traces: [] };
        tracesOf[series].traces.push(trace);
      }
    }
  }
  document.querySelectorAll("form.overlay-form").forEach((form) => {
    const plot = document.getElementById(form.dataset.plot);
    const select = form.querySelector("select");
    let added = 0;
    form.hidden = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = select.value;
      const found = tracesOf[name];
      if (!found) return;
      // A colour no curve of this plot has yet.
      const used = new Set(plot.data.map((trace) => trace.line && trace.line.color));
      const colour = COLOURS.find((c) => !used.has(c)) || COLOURS[added % COLOURS.length];
      added += 1;
      const traces = found.traces.map((trace) => ({
        ...trace,
        name: trace.name.startsWith(`${name} · `) ? trace.name : `${name} · ${trace.name}`,
        line: { ...trace.line, color: colour, dash: "dot",
                width: trace.meta.author ? 2.2 : 1.0 },
        opacity: trace.meta.author ? 1.0 : 0.4,
        showlegend: Boolean(trace.meta.author),
        legendgroup: name,
      }));
      // The plot's own traces: named by their series in the legend from now on.
      const own = plot.data.map((trace, index) => [trace, index])
        .filter(([trace]) => trace.meta && !trace.name.startsWith(`${trace.meta.series} · `));
      if (own.length) {
        Plotly.restyle(plot, { name: own.map(([trace]) => `${trace.meta.series} · ${trace.name}`) },
                       own.map(([, index]) => index));
      }
      Plotly.addTraces(plot, traces);
      Plotly.relayout(plot, { showlegend: true, "legend.orientation": "h", "legend.y": 1.02,
                              "legend.yanchor": "bottom", "margin.t": 34 });
      select.querySelector(`option[value="${CSS.escape(name)}"]`).remove();
      plot.dataset.series += ` ${name}`;
      if (!select.options.length) form.hidden = true;
    });
  });
}

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
