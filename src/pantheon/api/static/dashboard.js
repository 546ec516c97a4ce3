/* Pantheon dashboard: polls the JSON API and draws tables and uPlot charts. No network
   access beyond this server; every asset is served from /static. */
(function () {
  "use strict";

  var REFRESH_MS = 5000;
  var PALETTE = ["#f2c14e", "#5b9cf2", "#3ecf8e", "#ef5b5b", "#b57bee", "#f28b54", "#4fd1d9",
    "#e86fb0", "#9bd14f", "#c9a27e", "#7b8cf2", "#f2e24e", "#6fe8b0"];
  var colors = {};
  var plots = {};

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else if (k === "cls") node.className = attrs[k];
        else if (k === "style") node.setAttribute("style", attrs[k]);
        else node.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function colorFor(name) {
    var god = name.replace(/_shadow$/, "");
    if (!(god in colors)) colors[god] = PALETTE[Object.keys(colors).length % PALETTE.length];
    return colors[god];
  }

  function fmt(x, digits) {
    if (x === null || x === undefined || Number.isNaN(x)) return "–";
    return Number(x).toFixed(digits === undefined ? 3 : digits);
  }

  function fmtInt(x) {
    if (x === null || x === undefined) return "–";
    return Number(x).toLocaleString("en-US");
  }

  function plural(n, word) {
    return fmtInt(n) + " " + word + (n === 1 ? "" : "s");
  }

  function ago(iso) {
    if (!iso) return "never";
    var s = (Date.now() - Date.parse(iso)) / 1000;
    if (s < 0) {
      s = -s;
      if (s < 90) return "in " + Math.round(s) + " s";
      if (s < 5400) return "in " + Math.round(s / 60) + " min";
      if (s < 172800) return "in " + (s / 3600).toFixed(1) + " h";
      return "in " + Math.round(s / 86400) + " d";
    }
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return (s / 3600).toFixed(1) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }

  function short(name) {
    var n = name.split("/").pop();
    return n.length > 26 ? n.slice(0, 25) + "…" : n;
  }

  function getJSON(path) {
    return fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
      });
  }

  function setRows(tableId, rows) {
    var tbody = $(tableId).querySelector("tbody");
    tbody.replaceChildren.apply(tbody, rows);
  }

  function emptyRow(cols, text) {
    return el("tr", null, [el("td", { cls: "muted", colspan: String(cols), text: text })]);
  }

  /* --- health and cards ------------------------------------------------------------- */
  function renderHealth(res) {
    var h = res.body || {};
    var box = $("health");
    box.dataset.status = h.status || "down";
    var parts = [(h.status || "down").toUpperCase(), "db " + (h.database || "?"),
      "broker " + (h.broker || "?"), h.workers + " worker" + (h.workers === 1 ? "" : "s"),
      "beat " + (h.beat || "?"), "v" + (h.version || "?")];
    $("health-text").textContent = parts.join(" · ");
    box.title = (h.problems || []).join("\n");
    $("stat-mode").textContent = h.mode || "–";
    $("stat-mode-hint").textContent = h.training_enabled === false ? "training disabled"
      : (h.celery_available ? "Celery workers consume the queues" : "tasks run in-process");
  }

  function renderStats(s) {
    $("stat-outcomes").textContent = fmtInt(s.outcomes);
    $("stat-outcomes-hint").textContent = plural(s.gods_with_outcomes, "god") + " learning · "
      + fmtInt(s.pending_online) + " pending";
    $("stat-trained").textContent = fmtInt(s.trained_online);
    $("stat-trained-hint").textContent = fmtInt(s.batch_processed) + " batch-processed · "
      + fmtInt(s.consolidated) + " consolidated";
    $("stat-steps").textContent = fmtInt(s.steps);
    $("stat-steps-hint").textContent = plural(s.kernels, "kernel") + " · "
      + plural(s.checkpoints, "checkpoint");
  }

  function renderQueues(q) {
    var box = $("queues");
    var items = Object.keys(q.queues || {}).map(function (name) {
      var depth = q.queues[name];
      return el("div", { cls: "queue" }, [
        el("div", { cls: "qname", text: name.replace("training_", "") }),
        el("div", { cls: "qdepth", text: depth === null ? "–" : fmtInt(depth) }),
      ]);
    });
    box.replaceChildren.apply(box, items);
    box.title = q.broker === "ok" ? "from the broker" : (q.detail || "broker not in use");
  }

  /* --- kernels table ---------------------------------------------------------------- */
  function spark(values, color) {
    var w = 80, h = 20;
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("width", w); svg.setAttribute("height", h); svg.setAttribute("class", "spark");
    var v = (values || []).filter(function (x) { return x !== null && Number.isFinite(x); });
    if (v.length < 2) return svg;
    var lo = Math.min.apply(null, v), hi = Math.max.apply(null, v), span = hi - lo || 1;
    var pts = v.map(function (x, i) {
      return (i * (w - 2) / (v.length - 1) + 1).toFixed(1) + "," + (h - 2 - (x - lo) / span * (h - 4)).toFixed(1);
    }).join(" ");
    var line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", pts); line.setAttribute("fill", "none");
    line.setAttribute("stroke", color); line.setAttribute("stroke-width", "1.5");
    svg.appendChild(line);
    return svg;
  }

  function renderKernels(data) {
    var ks = (data.kernels || []).slice();
    var rows = ks.map(function (k) {
      var color = colorFor(k.god_name);
      var tr = el("tr", { cls: k.kind === "shadow" ? "shadow" : "", title: "version " + k.version }, [
        el("td", null, [el("span", { cls: "kname" }, [
          el("span", { cls: "sw", style: "background:" + color }), el("span", { text: short(k.god_name), title: k.god_name }),
        ])]),
        el("td", { cls: "num", text: fmtInt(k.outcomes_trained) }),
        el("td", { cls: "num", text: fmtInt(k.step_count) }),
        el("td", { cls: "num", text: fmt(k.running_loss) }),
        el("td", null, [spark(k.loss_trend, color)]),
        el("td", { cls: "num", text: fmt(k.running_reward) }),
        el("td", { cls: "muted", text: ago(k.last_trained) }),
        el("td", { cls: "num", text: fmtInt(k.checkpoints) }),
      ]);
      return tr;
    });
    setRows("kernels", rows.length ? rows : [emptyRow(8, "no kernels yet")]);
    var gods = ks.filter(function (k) { return k.kind === "god"; }).length;
    $("kernels-note").textContent = gods + " gods, " + (ks.length - gods) + " shadows";
  }

  /* --- learning curves -------------------------------------------------------------- */
  function rollingStd(values, window) {
    var out = [];
    for (var i = 0; i < values.length; i++) {
      var lo = Math.max(0, i - window + 1), n = 0, sum = 0, sq = 0;
      for (var j = lo; j <= i; j++) {
        if (values[j] === null || values[j] === undefined) continue;
        n++; sum += values[j]; sq += values[j] * values[j];
      }
      out.push(n >= 3 ? Math.sqrt(Math.max(0, sq / n - (sum / n) * (sum / n))) : null);
    }
    return out;
  }

  function seriesByKernel(points) {
    var by = {};
    points.forEach(function (p) {
      if (/_shadow$/.test(p.kernel_name)) return;
      (by[p.kernel_name] = by[p.kernel_name] || []).push(p);
    });
    Object.keys(by).forEach(function (k) {
      by[k].sort(function (a, b) { return Date.parse(a.at) - Date.parse(b.at); });
    });
    return by;
  }

  function aligned(by, pick) {
    var names = Object.keys(by).sort();
    var xs = {};
    names.forEach(function (n) { by[n].forEach(function (p) { xs[Date.parse(p.at) / 1000] = 1; }); });
    var x = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    x.forEach(function (t, i) { index[t] = i; });
    var data = [x];
    names.forEach(function (n) {
      var col = new Array(x.length).fill(null);
      var vals = pick(by[n]);
      by[n].forEach(function (p, i) { col[index[Date.parse(p.at) / 1000]] = vals[i]; });
      data.push(col);
    });
    return { names: names, data: data };
  }

  function drawPlot(id, set, yLabel) {
    var box = $(id);
    if (plots[id]) { plots[id].destroy(); delete plots[id]; }
    if (!set.data[0].length) {
      box.replaceChildren(el("div", { cls: "empty", text: "no training steps yet" }));
      return;
    }
    box.replaceChildren();
    var series = [{}].concat(set.names.map(function (n) {
      return { label: n, stroke: colorFor(n), width: 1.6, spanGaps: true, points: { show: false } };
    }));
    var axis = { stroke: "#8b97b0", grid: { stroke: "#2a3550", width: 1 }, ticks: { stroke: "#2a3550" } };
    var yValues = function (u, splits) {
      return splits.map(function (v) { return v === null ? "" : String(Number(v.toPrecision(3))); });
    };
    plots[id] = new uPlot({
      width: box.clientWidth || 400,
      height: 200,
      series: series,
      legend: { show: false },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true } },
      axes: [Object.assign({}, axis), Object.assign({ label: yLabel, size: 56, values: yValues }, axis)],
    }, set.data, box);
  }

  function renderHistory(h) {
    var by = seriesByKernel(h.points || []);
    drawPlot("plot-loss", aligned(by, function (ps) { return ps.map(function (p) { return p.loss; }); }), "loss");
    drawPlot("plot-reward", aligned(by, function (ps) { return ps.map(function (p) { return p.reward; }); }), "reward");
    drawPlot("plot-spread", aligned(by, function (ps) {
      // Per-step spread when the service records it, else the rolling spread of the
      // predicted success after each step.
      if (ps.some(function (p) { return p.details && p.details.p_spread !== undefined; })) {
        return ps.map(function (p) { return p.details ? p.details.p_spread : null; });
      }
      return rollingStd(ps.map(function (p) { return p.phi_after === undefined ? null : p.phi_after; }), 25);
    }), "std of p(success)");
    var legend = $("legend");
    legend.replaceChildren.apply(legend, Object.keys(by).sort().map(function (n) {
      return el("span", null, [el("span", { cls: "sw", style: "background:" + colorFor(n) }), document.createTextNode(short(n))]);
    }));
  }

  /* --- routing ---------------------------------------------------------------------- */
  function heatColor(p, lo, hi) {
    var a = hi > lo ? (p - lo) / (hi - lo) : 0.5;
    a = Math.max(0, Math.min(1, a));
    var r = Math.round(239 + (62 - 239) * a), g = Math.round(91 + (207 - 91) * a), b = Math.round(91 + (142 - 91) * a);
    // A clear gap between the gods gets strong colour; a near tie stays faint.
    var alpha = 0.1 + 0.35 * Math.min(1, (hi - lo) / 0.25);
    return "background: rgba(" + r + "," + g + "," + b + "," + alpha.toFixed(2) + ")";
  }

  function renderRouting(r) {
    var prompts = r.prompts || [];
    var gods = [];
    prompts.forEach(function (row) {
      row.ranking.forEach(function (it) { if (gods.indexOf(it.god_name) < 0) gods.push(it.god_name); });
    });
    gods.sort();
    var head = $("routing").querySelector("thead");
    head.replaceChildren(el("tr", null, [el("th", { text: "prompt" })].concat(gods.map(function (g) {
      return el("th", { cls: "num", text: short(g), title: g });
    }))));
    var rows = prompts.map(function (row) {
      var by = {};
      row.ranking.forEach(function (it) { by[it.god_name] = it; });
      var ps = row.ranking.map(function (it) { return it.p_success; });
      var lo = Math.min.apply(null, ps), hi = Math.max.apply(null, ps);
      var text = row.prompt.replace(/\s+/g, " ");
      return el("tr", null, [el("td", { cls: "prompt", title: row.prompt, text: (row.source === "recent" ? "↻ " : "") + (text.length > 90 ? text.slice(0, 89) + "…" : text) })]
        .concat(gods.map(function (g) {
          var it = by[g];
          if (!it) return el("td", { cls: "muted", text: "–" });
          return el("td", { cls: "heat" + (g === row.god_name ? " win" : ""), style: heatColor(it.p_success, lo, hi),
            title: "p=" + fmt(it.p_success) + " reward=" + fmt(it.expected_reward) + " ±" + fmt(it.uncertainty),
            text: fmt(it.p_success, 2) });
        })));
    });
    setRows("routing", rows.length ? rows : [emptyRow(1, "no gods to route to")]);
    var wins = $("wins");
    wins.replaceChildren.apply(wins, Object.keys(r.wins || {}).sort(function (a, b) { return r.wins[b] - r.wins[a]; })
      .map(function (g) {
        return el("span", { cls: "win-bar" }, [el("span", { cls: "sw", style: "display:inline-block;width:10px;height:10px;border-radius:2px;background:" + colorFor(g) }),
          document.createTextNode(short(g) + " "), el("b", { text: String(r.wins[g]) })]);
      }));
  }

  /* --- schedule and tasks ----------------------------------------------------------- */
  function renderSchedule(s) {
    var rows = (s.jobs || []).map(function (j) {
      return el("tr", null, [
        el("td", { text: j.job, title: j.why }),
        el("td", null, [el("code", { text: j.schedule })]),
        el("td", { cls: j.last_success ? "" : "muted", text: ago(j.last_success), title: j.last_success || "" }),
        el("td", { text: ago(j.next_run), title: j.next_run }),
        el("td", { cls: "num" }, [el("span", { cls: "pill " + (j.missed_slots > 0 ? "bad" : "ok"), text: String(j.missed_slots) })]),
      ]);
    });
    setRows("schedule", rows.length ? rows : [emptyRow(5, "no schedule")]);
  }

  function summary(result) {
    if (!result) return "";
    var keys = ["status", "god_name", "loss", "batch_size", "steps", "kept", "deleted"];
    return keys.filter(function (k) { return k in result; }).map(function (k) {
      var v = result[k];
      return k + "=" + (typeof v === "number" && !Number.isInteger(v) ? fmt(v) : v);
    }).join(" ");
  }

  function renderTasks(t) {
    var rows = (t.tasks || []).slice(0, 20).map(function (task) {
      var state = task.state === "SUCCESS" && task.result ? (task.result.status || "success")
        : task.state.toLowerCase();
      return el("tr", null, [
        el("td", { cls: "muted", text: ago(task.dispatched_at), title: task.dispatched_at }),
        el("td", { text: task.task_name.replace("training.tasks.", ""), title: task.task_id }),
        el("td", { text: task.mode }),
        el("td", null, [el("span", { cls: "pill " + String(state).toLowerCase(), text: state })]),
        el("td", { cls: "muted", text: task.error || summary(task.result), title: JSON.stringify(task.arguments) }),
      ]);
    });
    setRows("tasks", rows.length ? rows : [emptyRow(5, "no task dispatched yet")]);
  }

  function renderEvaluation(e) {
    var rows = (e.policies || []).map(function (p) {
      return el("tr", null, [
        el("td", { text: p.policy }),
        el("td", { cls: "num", text: fmt(p.ips.value, 3) }),
        el("td", { cls: "num", text: fmt(p.snips.value, 3) }),
        el("td", { cls: "num", text: fmt(p.dr.value, 3) }),
        el("td", { cls: "num muted", text: fmt(p.dr.low, 3) + " – " + fmt(p.dr.high, 3) }),
        el("td", { cls: "num", text: fmt(p.expected_cost, 2) }),
      ]);
    });
    $("evaluation-note").textContent = e.decisions
      ? plural(e.decisions, "logged decision") + " with an outcome; " + e.note
      : e.note;
    setRows("evaluation", rows.length ? rows : [emptyRow(6, "no decision has an outcome yet")]);
  }

  /* --- polling ---------------------------------------------------------------------- */
  var views = [
    ["/api/health", function (res) { renderHealth(res); }, true],
    ["/api/stats", renderStats],
    ["/api/queues", renderQueues],
    ["/api/kernels", renderKernels],
    ["/api/history?limit=3000", renderHistory],
    // Recent prompts are user data: with a token set they answer 401, and the view falls
    // back to the fixed probe prompts, which are public.
    ["/api/routing/overview?recent=6", renderRouting, false, "/api/routing/overview"],
    ["/api/schedule", renderSchedule],
    ["/api/tasks", renderTasks],
    ["/api/evaluation?limit=5000", renderEvaluation],
  ];

  function refresh() {
    var jobs = views.map(function (v) {
      return getJSON(v[0]).then(function (res) {
        return res.status === 401 && v[3] ? getJSON(v[3]) : res;
      }).then(function (res) {
        if (v[2]) v[1](res);
        else if (res.ok) v[1](res.body);
      }).catch(function (err) {
        if (v[2]) renderHealth({ body: { status: "down", problems: [String(err)] } });
      });
    });
    Promise.all(jobs).then(function () {
      $("updated").textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
      document.body.dataset.loaded = "true";
    });
  }

  $("interval").textContent = String(REFRESH_MS / 1000);
  refresh();
  setInterval(refresh, REFRESH_MS);
  window.addEventListener("resize", function () {
    Object.keys(plots).forEach(function (id) {
      plots[id].setSize({ width: $(id).clientWidth, height: 200 });
    });
  });
})();
