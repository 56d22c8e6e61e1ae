"use strict";
// The dashboard's script: fetches dashboard/data and draws it. Every value from the data
// is put on the page with textContent or as an SVG attribute: never as markup.
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const code = new URLSearchParams(window.location.search).get("code");
  const ledgerFilter = {}; // model name -> kind shown ("" for all), kept across refreshes
  let timer = null;

  // A URL of the app, relative to this page (/api/dashboard), with the page's key.
  function appUrl(path) {
    if (!code) return path;
    return path + (path.indexOf("?") < 0 ? "?" : "&") + "code=" + encodeURIComponent(code);
  }

  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "className") node.className = value;
      else node.setAttribute(name, String(value));
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function titled(node, text) {
    node.append(svg("title", {}, text));
    return node;
  }

  function show(value) {
    return value === null || value === undefined || value === "" ? "—" : String(value);
  }

  function when(iso) {
    if (!iso) return "—";
    const moment = new Date(iso);
    if (isNaN(moment.getTime())) return String(iso);
    return moment.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/:00Z$/, "Z");
  }

  function ago(iso, now) {
    if (!iso) return "";
    const seconds = (now - new Date(iso).getTime()) / 1000;
    if (isNaN(seconds)) return "";
    const future = seconds < 0;
    const size = Math.abs(seconds);
    const words =
      size < 90 ? Math.round(size) + " s" :
      size < 5400 ? Math.round(size / 60) + " min" :
      size < 172800 ? Math.round(size / 3600) + " h" : Math.round(size / 86400) + " d";
    return future ? "in " + words : words + " ago";
  }

  function num(value) {
    if (typeof value !== "number") return show(value);
    return Math.abs(value) >= 1000 || Number.isInteger(value) ? String(value) : value.toPrecision(4);
  }

  function tone(word) {
    const text = String(word || "").toLowerCase();
    if (/promoted|completed|passed|retrain|^ok/.test(text)) return "ok";
    if (/fail|reject|refus|cancel|quarantin|error/.test(text)) return "bad";
    if (/running|submitting|queued|preparing|starting|registered/.test(text)) return "run";
    return "muted";
  }

  function table(headers, rows, attrsOf) {
    const head = el("tr", {}, headers.map((h) => el("th", { text: h })));
    const body = rows.map((row, index) =>
      el("tr", attrsOf ? attrsOf(index) : {}, row.map((cell) =>
        cell instanceof Node ? el("td", {}, [cell]) :
        typeof cell === "number" ? el("td", { className: "num", text: num(cell) }) :
        el("td", { text: show(cell) })))
    );
    return el("table", {}, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }

  // A link within the app; anything that is not a plain relative path stays text.
  function link(path, text) {
    if (typeof path !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.%\/-]*$/.test(path) ||
        path.split("/").some((part) => part === "." || part === "..")) {
      return el("span", { text: text });
    }
    return el("a", { href: appUrl(path), text: text });
  }

  // ------------------------------------------------------------------ cards

  function card(model, now) {
    const last = model.last_run;
    const decision = model.last_decision;
    const fresh = model.freshness || {};
    const production = model.family ? familyProduction(model.family)
      : model.production_version === null || model.production_version === undefined
        ? el("span", { className: "version muted", text: "none" })
        : el("span", { className: "version ok", text: "v" + model.production_version });
    const pinned = model.pinned || (model.family && model.family.pinned);
    const rows = [
      ["Production", [production, pinned ? el("span", { className: "badge run", text: model.family ? "family pinned" : "pinned" }) : null]],
      ["Last run", last ? [
        el("span", { className: "badge " + tone(last.status), text: show(last.status) }), " ",
        el("span", { text: last.decision }), el("br"),
        el("small", { className: "muted", text: when(last.started_at) + " (" + ago(last.started_at, now) + ")" }),
      ] : [el("span", { className: "empty", text: "no run yet" })]],
      ["Last decision", decision ? [
        el("span", { className: tone(decision.action), text: show(decision.action) }),
        el("span", { text: ": " + show(decision.reason) }),
      ] : [el("span", { className: "empty", text: "none yet" })]],
      ["Next tick", [el("span", { text: model.next_tick ? when(model.next_tick) + " (" + ago(model.next_tick, now) + ")" : "schedule not known" })]],
      ["Paused", [model.paused
        ? el("span", { className: "bad", text: "paused since " + when(model.paused.since) + " by " + show(model.paused.by) + ": " + show(model.paused.reason) })
        : el("span", { className: "ok", text: "no" })]],
      ["Data", [el("span", {
        text: (fresh.data_end ? "ends " + when(fresh.data_end) : "no trained data yet") +
          (fresh.last_arrival_at ? "; last arrival " + ago(fresh.last_arrival_at, now) : ""),
      })]],
    ];
    if (model.active_run || model.queued_requests) {
      rows.push(["Active", [el("span", { className: "run", text: (model.active_run ? "run " + model.active_run : "no run") + "; " + model.queued_requests + " queued" })]]);
    }
    const list = el("dl", {}, rows.flatMap(([term, parts]) => [el("dt", { text: term }), el("dd", {}, parts)]));
    return el("article", { className: "card", "data-model": model.name }, [
      el("h2", {}, [el("a", { href: "#model-" + model.name, text: model.name })]),
      list,
    ]);
  }

  // A family's production on its card: how many series are served, by which versions.
  function familyProduction(family) {
    const serving = Object.entries(family.versions_serving || {})
      .sort((a, b) => Number(b[0]) - Number(a[0]))
      .map(([version, count]) => "v" + version + " × " + count).join(", ");
    return el("span", {
      className: "series-count " + (family.series_in_production ? "ok" : "muted"),
      text: family.series_in_production + " series" + (serving ? " (" + serving + ")" : ""),
    });
  }

  // ------------------------------------------------------------------ timeline

  const COLOURS = { ok: "#1a7f37", bad: "#b42318", run: "#1f6feb", muted: "#98a2b3" };
  const LANES = { arrival: 28, run: 62, verdict: 112, decision: 138, production: 166 };

  function timeline(model) {
    const data = model.timeline || {};
    const wrap = el("div", { className: "timeline" });
    if (!data.start) {
      wrap.append(el("p", { className: "empty", text: "Nothing has happened yet." }));
      return wrap;
    }
    const left = 100, width = 880, height = 200;
    const X = (fraction) => left + fraction * width;
    const picture = svg("svg", { viewBox: "0 0 1000 " + height, role: "img", "aria-label": "timeline of " + model.name });
    picture.append(titled(svg("rect", { x: 0, y: 0, width: 1000, height: height, fill: "none" }), "timeline of " + model.name));
    for (const [lane, y] of Object.entries({ arrivals: LANES.arrival, runs: LANES.run, verdicts: LANES.verdict, decisions: LANES.decision, production: LANES.production })) {
      picture.append(svg("text", { x: 6, y: y + 4, class: "lane-label" }, lane));
      picture.append(svg("line", { x1: left, x2: left + width, y1: y, y2: y, stroke: "#eaecf0" }));
    }
    const start = new Date(data.start).getTime(), end = new Date(data.end).getTime();
    for (const fraction of [0.25, 0.5, 0.75]) {
      const x = X(fraction);
      picture.append(svg("line", { x1: x, x2: x, y1: 12, y2: height - 24, stroke: "#eaecf0", "stroke-dasharray": "3 3" }));
      const moment = when(new Date(start + fraction * (end - start)).toISOString());
      // Within two days the time says it; over longer spans, the date.
      const label = end - start < 172800000 ? moment.slice(11) : moment.slice(0, 10);
      picture.append(svg("text", { x: x, y: height - 8, "text-anchor": "middle" }, label));
    }
    for (const run of data.runs || []) {
      const x0 = X(run.x0), w = Math.max(X(run.x1) - x0, 3);
      const bar = svg("rect", {
        class: "run-bar", "data-run-key": run.run_key, "data-status": run.status,
        x: x0, y: LANES.run - 12, width: w, height: 16, rx: 3,
        fill: COLOURS[tone(run.status)], "fill-opacity": 0.85,
      });
      picture.append(titled(bar, run.run_key + " — " + show(run.status) + " — " + show(run.decision)));
      (run.steps || []).forEach((step, index) => {
        const s0 = X(step.x0), sw = Math.max(X(step.x1) - s0, 2);
        const piece = svg("rect", {
          class: "step-bar", x: s0, y: LANES.run + 7, width: sw, height: 8,
          fill: index % 2 ? "#84adff" : "#2e90fa",
        });
        picture.append(titled(piece, show(step.name) + ": " + show(step.status) + (step.seconds !== null ? ", " + step.seconds + " s" : "") + (step.reused ? " (reused)" : "")));
      });
    }
    for (const mark of data.marks || []) {
      const x = X(mark.x), y = LANES[mark.lane] || LANES.decision;
      const colour = COLOURS[tone(mark.action)];
      const shape = mark.lane === "verdict"
        ? svg("path", { d: "M" + x + " " + (y - 7) + " l7 7 l-7 7 l-7 -7 z", fill: colour })
        : mark.lane === "arrival"
          ? svg("path", { d: "M" + x + " " + (y + 6) + " l-6 -11 h12 z", fill: colour })
          : svg("circle", { cx: x, cy: y, r: 4.5, fill: colour });
      shape.setAttribute("class", "mark mark-" + mark.lane);
      shape.setAttribute("data-action", show(mark.action));
      picture.append(titled(shape, when(mark.at) + " " + mark.kind + " — " + mark.label));
    }
    if (data.production_per_series) {
      // A family: each series has its own production pointer (the family section).
      picture.append(svg("text", { x: left + 4, y: LANES.production + 4, class: "per-series" },
        "per series: see the family section"));
    }
    for (const segment of data.production || []) {
      const x0 = X(segment.x0), w = Math.max(X(segment.x1) - x0, 2);
      picture.append(titled(svg("rect", {
        class: "production-segment", "data-version": segment.version,
        x: x0, y: LANES.production - 7, width: w, height: 14, fill: "#d1fadf", stroke: "#1a7f37",
      }), "production v" + segment.version + " since " + when(segment.since)));
      picture.append(svg("text", { x: x0 + 4, y: LANES.production + 4 }, "v" + segment.version));
    }
    picture.append(svg("text", { x: left, y: height - 8 }, when(data.start)));
    picture.append(titled(svg("text", { x: left + width, y: height - 8, "text-anchor": "end" }, "now"), when(data.end)));
    wrap.append(picture);
    const serving = data.production_per_series ? "production: per series (family section)" : "green band: production version";
    wrap.append(el("p", { className: "legend", text: "▼ arrival decision · bar: run (step bars beneath, where known) · ◆ gate verdict · ● other decision · " + serving + ". Hover for details." }));
    return wrap;
  }

  // ------------------------------------------------------------------ sections

  function plot(model) {
    const box = el("div", { className: "plot" }, [el("h3", { text: "Forecast" })]);
    if (!model.plot) {
      box.append(el("p", { className: "empty", text: model.family
        ? "A family's runs write no forecast plot (see its series above)."
        : "No run has written a forecast plot yet." }));
      return box;
    }
    box.append(el("p", { className: "muted", text: "Forecast plot of the " + model.plot.of + " (run " + model.plot.run_key + ")" }));
    box.append(el("img", {
      src: appUrl("runs/" + encodeURIComponent(model.plot.run_key) + "/plot"),
      alt: "forecast plot of run " + model.plot.run_key, loading: "lazy",
    }));
    return box;
  }

  function versions(model) {
    const box = el("div", { className: "versions" }, [el("h3", { text: "Versions" })]);
    if (!model.versions.length) {
      box.append(el("p", { className: "empty", text: "No version registered yet." }));
      return box;
    }
    const rows = model.versions.map((v) => {
      const metrics = v.metrics.length
        ? table(["model", "window", "MASE", "sMAPE", "RMSE", "MAE", "coverage"],
          v.metrics.map((m) => [m.model, m.window, m.mase, m.smape, m.rmse, m.mae, m.coverage]))
        : el("span", { className: "empty", text: "backtest MASE " + num(v.mase) });
      const lineage = el("details", {}, [
        el("summary", { text: "lineage" }),
        el("pre", { text: JSON.stringify(v.lineage, null, 2) }),
      ]);
      return [
        el("span", { className: v.production ? "version ok" : "", text: "v" + v.version + (v.production ? " (production)" : "") }),
        el("span", { className: tone(v.gate), text: show(v.gate) }),
        when(v.created_at), show(v.data_end), metrics,
        el("span", {}, [lineage, link(v.report_url, "report")]),
      ];
    });
    box.append(table(["version", "gate", "registered", "data ends", "metrics (same windows)", "lineage"], rows,
      (index) => ({ "data-version": model.versions[index].version })));
    return box;
  }

  function runs(model, now) {
    const box = el("div", { className: "runs" }, [el("h3", { text: "Runs" })]);
    if (!model.runs.length) {
      box.append(el("p", { className: "empty", text: "No run yet." }));
      return box;
    }
    const rows = model.runs.map((r) => [
      link(r.report_url, r.run_key),
      el("span", { className: "badge " + tone(r.status), text: show(r.status) }),
      when(r.started_at) + " (" + ago(r.started_at, now) + ")",
      r.seconds,
      r.steps.length ? r.steps.map((s) => show(s.name) + " " + show(s.seconds) + " s" + (s.reused ? " (reused)" : "")).join(", ") : "—",
      r.decision,
      show(r.trigger),
    ]);
    box.append(el("div", { className: "scroll" }, [table(["run", "status", "started", "seconds", "steps", "outcome", "trigger"], rows,
      (index) => ({ "data-run-key": model.runs[index].run_key }))]));
    return box;
  }

  function ledger(model) {
    const box = el("div", { className: "ledger" }, [el("h3", { text: "Ledger (newest first)" })]);
    if (!model.ledger.length) {
      box.append(el("p", { className: "empty", text: "No decision recorded yet." }));
      return box;
    }
    const current = ledgerFilter[model.name] || "";
    const body = table(["at", "kind", "action", "reason", "run"],
      model.ledger.map((e) => [when(e.at), show(e.kind), el("span", { className: tone(e.action), text: show(e.action) }), el("span", { text: show(e.reason) }), show(e.run_key)]),
      (index) => ({ "data-kind": model.ledger[index].kind }));
    const buttons = ["", ...model.ledger_kinds].map((kind) => {
      const count = kind ? model.ledger.filter((e) => e.kind === kind).length : model.ledger.length;
      const button = el("button", { type: "button", "data-kind": kind, "aria-pressed": kind === current, text: (kind || "all") + " (" + count + ")" });
      button.addEventListener("click", () => { ledgerFilter[model.name] = kind; apply(kind); });
      return button;
    });
    function apply(kind) {
      for (const button of buttons) button.setAttribute("aria-pressed", String(button.dataset.kind === kind));
      for (const row of body.querySelectorAll("tbody tr")) row.hidden = Boolean(kind) && row.dataset.kind !== kind;
    }
    box.append(el("div", { className: "filters", role: "group", "aria-label": "filter the ledger by kind" }, buttons));
    box.append(el("div", { className: "scroll" }, [body]));
    apply(current);
    return box;
  }

  // A family's series: the newest finalised run's verdict per series (what needs a look
  // first), the worst series by error, the failed ones with their reasons, and the version
  // serving each series now.
  function familySection(model) {
    const family = model.family;
    const box = el("div", { className: "family", "data-model": model.name }, [el("h3", { text: "Series" })]);
    const pin = family.pin;
    box.append(el("p", { className: "muted", text:
      family.series_in_production + " series in production" +
      (pin ? " · family pinned by " + show(pin.by) + ": " + show(pin.reason) : "") +
      " · series columns " + show((family.series_columns || []).join(", ")) }));
    const run = family.run;
    if (!run) {
      box.append(el("p", { className: "empty", text: "No family run finalised yet." }));
      return box;
    }
    const counts = run.counts || {};
    box.append(el("p", { className: "family-run" }, [
      el("span", { text: "Last run " }), link("runs/" + run.run_key + "/series", run.run_key),
      el("span", { text: (run.version !== null && run.version !== undefined ? " (v" + run.version + ")" : "") + ": " +
        ["trained", "promoted", "refused", "registered_only", "failed", "excluded", "missing"]
          .filter((k) => counts[k]).map((k) => counts[k] + " " + k.replace("_", " ")).join(", ") +
        " of " + show(counts.series_total) + " series" }),
    ]));
    const worst = family.worst || [];
    const worstBox = el("div", { className: "family-worst" }, [el("h4", { text: "Worst series by error" })]);
    worstBox.append(worst.length
      ? table(["series", "MASE", "window", "verdict", "production"],
        worst.map((w) => [w.unique_id, w.mase, show(w.window), el("span", { className: tone(w.action), text: show(w.action) }), versionOf(w.production_version)]),
        (index) => ({ "data-series": worst[index].unique_id }))
      : el("p", { className: "empty", text: "No series error to rank." }));
    box.append(worstBox);
    const failed = family.failed || [];
    const failedBox = el("div", { className: "family-failed" }, [el("h4", { text: "Failed series (" + show(family.failed_count || 0) + ")" })]);
    failedBox.append(failed.length
      ? el("ul", {}, failed.map((f) => el("li", { "data-series": f.unique_id }, [el("strong", { text: f.unique_id }), el("span", { text: ": " + show(f.reason) })])))
      : el("p", { className: "empty", text: "No series failed." }));
    box.append(failedBox);
    const series = family.series || [];
    const tableBox = el("div", { className: "family-series" }, [el("h4", { text:
      "Series in the last run" + (family.series_shown < family.series_total ? " (the " + family.series_shown + " that need a look first, of " + family.series_total + ")" : "") })]);
    tableBox.append(series.length
      ? el("div", { className: "scroll" }, [table(["series", "verdict", "MASE", "production", "reason"],
        series.map((r) => [
          r.unique_id,
          el("span", { className: "badge " + tone(r.action), text: show(r.action) }),
          typeof r.mase === "number" ? num(r.mase) + " (" + show(r.window) + ")" : "—",
          el("span", {}, [versionOf(r.production_version), r.production_key === "refreshed" ? el("small", { className: "muted", text: " refreshed" }) : null, r.pinned ? el("span", { className: "badge run", text: "pinned" }) : null]),
          el("span", { text: show(r.reason) }),
        ]),
        (index) => ({ "data-series": series[index].unique_id, "data-action": series[index].action }))])
      : el("p", { className: "empty", text: "The run has no per-series verdicts." }));
    box.append(tableBox);
    return box;
  }

  function versionOf(version) {
    return version === null || version === undefined
      ? el("span", { className: "muted", text: "none" })
      : el("span", { className: "ok", text: "v" + version });
  }

  function modelSection(model, now) {
    return el("section", { className: "model", id: "model-" + model.name, "data-model": model.name }, [
      el("h2", { text: "Model " + model.name }),
      el("p", { className: "muted", text: "data under " + show(model.prefix) + " · frequency " + show(model.frequency) + " · horizon " + show(model.horizon) + " · gate: " + show(model.gate_policy) }),
      el("h3", { text: "Timeline" }),
      timeline(model),
      model.family ? familySection(model) : null,
      plot(model),
      versions(model),
      runs(model, now),
      ledger(model),
    ]);
  }

  function deadLetters(letters) {
    if (!letters.length) return el("p", { className: "empty", text: "No dead letters." });
    return el("div", { className: "scroll" }, [table(["received", "source", "error", "reason", "payload (start)"],
      letters.map((d) => [link("deadletters/" + d.id, when(d.received_at)), show(d.source), show(d.error_type), el("span", { text: show(d.reason) }), el("code", { text: show(d.payload_preview) })]),
      (index) => ({ "data-id": letters[index].id }))]);
  }

  function quarantine(files) {
    if (!files.length) return el("p", { className: "empty", text: "No quarantined files." });
    return table(["file", "model", "since", "why"],
      files.map((q) => [link("quarantine/" + String(q.blob).split("/").map(encodeURIComponent).join("/"), show(q.blob)), show(q.model), when(q.at), el("span", { text: show(q.reason) })]),
      (index) => ({ "data-blob": files[index].blob }));
  }

  function render(data) {
    const now = Date.now();
    document.getElementById("cards").replaceChildren(...data.models.map((m) => card(m, now)));
    document.getElementById("models").replaceChildren(...data.models.map((m) => modelSection(m, now)));
    document.querySelector("#dead-letters .body").replaceChildren(deadLetters(data.dead_letters || []));
    document.querySelector("#quarantine .body").replaceChildren(quarantine(data.quarantine || []));
    const status = document.getElementById("status");
    status.className = "";
    status.textContent = data.models.length + " model(s) · data of " + when(data.generated_at) +
      (data.schedule ? " · schedule " + data.schedule : "");
    document.body.dataset.loaded = data.generated_at;
  }

  function load() {
    return fetch(appUrl("dashboard/data"), { headers: { Accept: "application/json" }, cache: "no-store" })
      .then((response) => {
        if (!response.ok) throw new Error("dashboard/data answered " + response.status);
        return response.json();
      })
      .then(render)
      .catch((error) => {
        const status = document.getElementById("status");
        status.className = "error";
        status.textContent = "Could not load the data: " + error.message;
      });
  }

  function schedule() {
    if (timer) window.clearInterval(timer);
    timer = document.getElementById("auto").checked ? window.setInterval(load, 30000) : null;
  }

  document.getElementById("refresh").addEventListener("click", load);
  document.getElementById("auto").addEventListener("change", schedule);
  schedule();
  load();
})();
