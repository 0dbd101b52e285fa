/* Gateway dashboard: fetches the admin JSON every few seconds and draws it.
 * Every value that comes from the gateway (key, model, task, replica names...) goes into the page
 * through textContent or setAttribute on data-* attributes, never through innerHTML. */
(function () {
  "use strict";

  var params = new URLSearchParams(window.location.search);
  var REFRESH_S = Math.min(60, Math.max(1, parseInt(params.get("refresh") || "5", 10) || 5));
  var MODES = ["on pace", "pace: low priority downgraded", "pace: low + normal downgraded"];
  var state = { charts: {}, data: {}, refreshCount: 0, events: [], timezone: "UTC", errors: [] };
  window.dashboard = state;  // the browser test reads the charts' data and the helpers from here

  // ------------------------------------------------------------------ helpers
  function $(id) { return document.getElementById(id); }

  function el(tag, opts) {
    var node = document.createElement(tag);
    opts = opts || {};
    if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
    if (opts.cls) node.className = opts.cls;
    if (opts.title) node.setAttribute("title", String(opts.title));
    if (opts.data) Object.keys(opts.data).forEach(function (k) { node.setAttribute("data-" + k, String(opts.data[k])); });
    (opts.children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function td(text, cls) { return el("td", { text: text, cls: cls }); }

  // The page's one money format: 2 decimals from $1 up (with thousands separators), 4
  // significant digits below (demo spend is cents and fractions of a cent), "$0.00" for zero.
  function fmtUSD(v) {
    if (v === null || v === undefined || isNaN(v)) return "–";
    var a = Math.abs(v), sign = v < 0 ? "-" : "";
    if (a >= 1) return sign + "$" + a.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    if (a === 0) return "$0.00";
    var decimals = Math.min(10, 3 - Math.floor(Math.log10(a)));
    var text = a.toFixed(decimals);
    if (parseFloat(text) >= 1) return sign + "$" + (1).toFixed(2);  // 0.99996 rounds up to a dollar
    return sign + "$" + text;
  }
  function fmtInt(v) { return (v === null || v === undefined) ? "–" : Math.round(v).toLocaleString("en-US"); }
  function fmtPct(v) { return (v === null || v === undefined) ? "–" : (v * 100).toFixed(v > 0 && v < 0.1 ? 1 : 0) + "%"; }
  // A latency given in ms: µs below 1 ms (a simulator or a local model answers that fast), so
  // nothing shows as "0 ms"; one decimal below 10 ms; seconds from 10 s.
  function fmtLatency(v) {
    if (v === null || v === undefined || isNaN(v)) return "–";
    if (v < 1) return Math.round(v * 1000) + " µs";
    if (v < 10) return v.toFixed(1) + " ms";
    return v >= 10000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms";
  }
  function fmtTime(ts) {
    try {
      return new Date(ts * 1000).toLocaleTimeString("en-GB", { timeZone: state.timezone, hour12: false });
    } catch (e) {
      return new Date(ts * 1000).toLocaleTimeString("en-GB", { hour12: false });
    }
  }
  function fmtAge(s) {
    return s < 1 ? "now" : s < 120 ? Math.round(s) + " s ago" : s < 7200 ? Math.round(s / 60) + " min ago" :
      s < 172800 ? Math.round(s / 3600) + " h ago" : Math.round(s / 86400) + " d ago";
  }

  function fillBody(table, rows, emptyText, columns) {
    var body = table.tBodies[0];
    body.replaceChildren();
    if (!rows.length) {
      var cell = td(emptyText, "empty");
      cell.colSpan = columns || table.tHead.rows[0].cells.length;
      body.appendChild(el("tr", { children: [cell] }));
      return;
    }
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function setBadge(node, text, level) {
    node.textContent = text;
    node.className = "badge " + (level || "");
  }

  function bar(share, cls) {
    var inner = el("span", { cls: cls || "" });
    inner.style.width = Math.max(0, Math.min(100, share * 100)).toFixed(1) + "%";
    return el("div", { cls: "bar", children: [inner] });
  }

  // ------------------------------------------------------------------ data
  function fetchJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { accept: "application/json" }, cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 401) {
          window.location.assign("/dashboard/login");
          throw new Error("signed out");
        }
        return resp.json().then(function (body) {
          if (!resp.ok && url !== "/readyz") {
            var msg = body && body.error && body.error.message ? body.error.message : "HTTP " + resp.status;
            throw new Error(url + ": " + msg);
          }
          return body;
        });
      });
  }

  var SOURCES = {
    ready: "/readyz",
    budget: "/dashboard/api/budget",
    series: "/dashboard/api/spend/series",
    summary: "/dashboard/api/spend/summary?days=7",
    deployments: "/dashboard/api/deployments?n=2000",
    alerts: "/dashboard/api/alerts",
    refusals: "/dashboard/api/refusals?days=7",
    experiments: "/dashboard/api/experiments",
    cluster: "/dashboard/api/cluster",
    keys: "/dashboard/api/keys",
    teams: "/dashboard/api/teams"
  };
  var RENDER = {
    ready: renderReady, budget: renderBudget, series: renderSpendChart, summary: renderSummary,
    deployments: renderDeployments, alerts: renderCosts, refusals: renderRefusals,
    experiments: renderExperiments, cluster: renderCluster, keys: renderKeys, teams: renderTeams
  };

  function refresh() {
    var names = Object.keys(SOURCES);
    return Promise.allSettled(names.map(function (n) { return fetchJSON(SOURCES[n]); })).then(function (results) {
      var errors = [];
      results.forEach(function (r, i) {
        if (r.status === "fulfilled") state.data[names[i]] = r.value;
        else errors.push(String(r.reason && r.reason.message || r.reason));
      });
      names.forEach(function (n) {
        if (!RENDER[n] || state.data[n] === undefined) return;
        try { RENDER[n](state.data[n]); } catch (e) { errors.push(n + ": " + e.message); }
      });
      state.errors = errors;
      var banner = $("banner");
      if (errors.length) {
        banner.textContent = "Some panels could not be refreshed (shown as of their last answer): " + errors.join("; ");
        banner.hidden = false;
      } else {
        banner.hidden = true;
      }
      state.refreshCount += 1;
      $("updated").textContent = "updated " + new Date().toLocaleTimeString("en-GB", { hour12: false }) +
        " · every " + REFRESH_S + " s";
    });
  }

  function loop() {
    refresh().catch(function () { /* shown in the banner */ }).then(function () {
      window.setTimeout(loop, REFRESH_S * 1000);
    });
  }

  // ------------------------------------------------------------------ header / KPIs
  function renderReady(r) {
    if (r.status === "ready") setBadge($("ready-badge"), "ready · state engine ok", "ok");
    else if (r.status === "degraded")
      setBadge($("ready-badge"), "DEGRADED · state engine " + r.state_engine + " · " + fmtInt(r.journal_pending) +
        " journaled settles", "bad");
    else setBadge($("ready-badge"), "not ready: " + (r.reason || r.status), "bad");
  }

  function allowanceAt(series, ts) {
    if (!series || !series.daily_budget_usd) return null;
    var share = Math.min(1, Math.max(0, (ts - series.day_start) / series.day_length_s));
    return series.daily_budget_usd * share + series.burst_usd;
  }

  function renderBudget(b) {
    state.timezone = b.timezone || "UTC";
    $("budget-day").textContent = b.day + " (" + b.timezone + ")";
    $("spent-usd").textContent = fmtUSD(b.spent_usd);
    $("spent-usd").setAttribute("data-usd", String(b.spent_usd));
    $("budget-usd").textContent = b.daily_budget_usd ? fmtUSD(b.daily_budget_usd) : "none";
    $("hard-usd").textContent = b.hard_limit_usd ? fmtUSD(b.hard_limit_usd) : "none";
    $("reserved-usd").textContent = fmtUSD(b.reserved_usd);
    $("pace-ratio").textContent = b.daily_budget_usd ? b.pace_ratio.toFixed(2) : "–";
    $("pace-ratio").className = "kpi-value" + (b.pace_mode > 0 ? " warn" : "");
    $("spent-usd").className = "kpi-value" + (b.hard_limit_usd && b.spent_usd >= b.hard_limit_usd ? " bad" :
      b.daily_budget_usd && b.spent_usd >= b.daily_budget_usd ? " warn" : "");
    setBadge($("pace-badge"), MODES[b.pace_mode] || ("pace mode " + b.pace_mode), b.pace_mode > 0 ? "warn" : "ok");
    state.events = b.downgrade_events || [];
    $("events-count").textContent = "(" + state.events.length + ")";
    fillBody($("events-table"), state.events.slice().reverse().map(function (e) {
      return el("tr", { children: [td(fmtTime(e.ts)), td(MODES[e.mode] || String(e.mode)), td(e.ratio.toFixed(2), "num")] });
    }), "no pace changes today");
  }

  // ------------------------------------------------------------------ charts
  function chartWidth(id) { return Math.max(240, $(id).clientWidth); }

  function markers() {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
          ctx.save();
          ctx.lineWidth = 2 * uPlot.pxRatio;
          state.events.forEach(function (e) {
            var x = u.valToPos(e.ts, "x", true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
            ctx.strokeStyle = e.mode > 0 ? "rgba(183,121,31,0.85)" : "rgba(31,138,76,0.85)";
            ctx.setLineDash(e.mode > 0 ? [] : [4 * uPlot.pxRatio, 3 * uPlot.pxRatio]);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
          });
          ctx.restore();
        }]
      }
    };
  }

  // The spend chart's y scale follows the spend, so a few cents do not lie flat on a $50 axis:
  // a reference line (pace allowance, daily budget, hard limit) joins the scale only within 3x
  // of the spend (of the lowest line on a day with no spend yet); the others are listed as
  // markers above the plot. Returns {top, shown: {label: true}, off: [{label, usd}]}.
  function spendScale(spendMax, lines) {
    var present = lines.filter(function (l) { return l.usd > 0; });
    var base = spendMax > 0 ? spendMax : Math.min.apply(null, present.map(function (l) { return l.usd; }).concat([1]));
    var top = base, shown = {}, off = [];
    present.forEach(function (l) {
      if (l.usd <= base * 3) { shown[l.label] = true; top = Math.max(top, l.usd); }
      else off.push({ label: l.label, usd: l.usd });
    });
    return { top: top * 1.15, shown: shown, off: off };
  }

  function offScaleLabels() {
    return {
      hooks: {
        draw: [function (u) {
          var off = state.spendScale ? state.spendScale.off : [];
          if (!off.length) return;
          var ctx = u.ctx, px = uPlot.pxRatio;
          ctx.save();
          ctx.font = (11 * px) + "px system-ui, sans-serif";
          ctx.fillStyle = "#687083";
          ctx.textAlign = "right";
          ctx.textBaseline = "top";
          off.forEach(function (l, i) {
            ctx.fillText("↑ " + l.label + " " + fmtUSD(l.usd), u.bbox.left + u.bbox.width - 4 * px,
                         u.bbox.top + (4 + 14 * i) * px);
          });
          ctx.restore();
        }]
      }
    };
  }

  function spendRange(s, now) {
    var r = state.range || "auto";
    if (r === "day") return s.day_start;
    if (r !== "auto") return Math.max(s.day_start, now - parseInt(r, 10));
    var first = s.points.length ? s.points[0][0] : s.day_start;
    var pad = Math.max(30, (now - first) * 0.05);
    return Math.max(s.day_start, Math.min(first - pad, now - 60));
  }

  function fmtAxisTime(u, splits) {
    var span = u.scales.x.max - u.scales.x.min;
    return splits.map(function (ts) {
      var opts = { timeZone: state.timezone, hour12: false, hour: "2-digit", minute: "2-digit" };
      if (span < 900) opts.second = "2-digit";
      try { return new Date(ts * 1000).toLocaleTimeString("en-GB", opts); }
      catch (e) { delete opts.timeZone; return new Date(ts * 1000).toLocaleTimeString("en-GB", opts); }
    });
  }

  function renderSpendChart(s) {
    var b = state.data.budget;
    var now = Math.max(s.now, s.points.length ? s.points[s.points.length - 1][0] + 0.001 : 0);
    var from = spendRange(s, now);
    var xs = [from], spend = [null];
    s.points.forEach(function (p) {
      if (p[0] <= from) spend[0] = p[1];  // the line enters the window at its last value before it
      else if (p[0] < now && p[0] > xs[xs.length - 1]) { xs.push(p[0]); spend.push(p[1]); }
    });
    xs.push(now);
    spend.push(b ? b.spent_usd : (spend[spend.length - 1] || 0));
    var allowance = xs.map(function (x) { return allowanceAt(s, x); });
    var spendMax = 0, allowanceMax = 0;
    spend.forEach(function (v) { if (v !== null && v > spendMax) spendMax = v; });
    allowance.forEach(function (v) { if (v !== null && v > allowanceMax) allowanceMax = v; });
    var daily = s.daily_budget_usd && s.daily_budget_usd !== s.hard_limit_usd ? s.daily_budget_usd : 0;
    var scale = state.spendScale = spendScale(spendMax, [
      { label: "pace allowance", usd: allowanceMax }, { label: "daily budget", usd: daily },
      { label: "hard limit", usd: s.hard_limit_usd }]);
    if (!scale.shown["pace allowance"]) allowance = allowance.map(function () { return null; });
    var hard = xs.map(function () { return scale.shown["hard limit"] ? s.hard_limit_usd : null; });
    var budgetLine = xs.map(function () { return scale.shown["daily budget"] ? daily : null; });
    $("hard-note").textContent = scale.off.length ? "Above this scale: " + scale.off.map(function (l) {
      return l.label + " " + fmtUSD(l.usd);
    }).join(", ") + "." : "";
    var data = [xs, spend, allowance, hard, budgetLine];
    $("allowance-usd").textContent = s.daily_budget_usd ? fmtUSD(allowanceAt(s, now)) : "none";
    var chart = state.charts.spend;
    if (!chart) {
      var tz = s.timezone;
      chart = state.charts.spend = new uPlot({
        width: chartWidth("spend-chart"), height: 260,
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), tz); },
        legend: { live: false },
        scales: { x: { time: true }, y: { range: function () { return [0, state.spendScale.top]; } } },
        series: [
          {},
          { label: "spent", stroke: "#2f6fde", width: 2, fill: "rgba(47,111,222,0.08)", points: { show: false } },
          { label: "pace allowance", stroke: "#b7791f", width: 1.5, dash: [6, 4], points: { show: false } },
          { label: "hard limit", stroke: "#c53030", width: 1.5, dash: [2, 3], points: { show: false } },
          { label: "daily budget", stroke: "#687083", width: 1.5, dash: [8, 4], points: { show: false } }
        ],
        axes: [{ space: 70, values: fmtAxisTime }, { size: moneyAxisSize, values: function (u, vals) { return vals.map(fmtUSD); } }],
        plugins: [markers(), offScaleLabels()]
      }, data, $("spend-chart"));
    } else {
      chart.setData(data);
    }
  }

  // A money axis as wide as its longest label: "$0.00005000" does not fit a fixed 80 px.
  function moneyAxisSize(u, values) {
    var longest = 0;
    (values || []).forEach(function (v) { longest = Math.max(longest, String(v).length); });
    return Math.max(50, Math.ceil(longest * 7.5) + 16);
  }

  function renderWeekChart(sum) {
    var days = sum.daily.map(function (d) { return d.day; });
    var xs = days.map(function (_, i) { return i; });
    var data = [xs, sum.daily.map(function (d) { return d.cost_usd; }), sum.daily.map(function (d) { return d.requests; })];
    state.weekDays = days;
    var chart = state.charts.week;
    if (!chart) {
      chart = state.charts.week = new uPlot({
        width: chartWidth("week-chart"), height: 220,
        legend: { live: false },
        scales: { x: { time: false, range: function () { return [-0.5, state.weekDays.length - 0.5]; } },
                  y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } },
                  req: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
        series: [
          { value: function (u, v) { return v === null ? "–" : state.weekDays[v] || "–"; } },
          { label: "spend", stroke: "#2f6fde", fill: "rgba(47,111,222,0.35)", width: 1,
            paths: uPlot.paths.bars({ size: [0.6, 64] }), points: { show: false },
            value: function (u, v) { return fmtUSD(v); } },
          { label: "requests", scale: "req", stroke: "#687083", width: 1.5,
            value: function (u, v) { return fmtInt(v); } }
        ],
        axes: [
          { splits: function () { return state.weekDays.map(function (_, i) { return i; }); },
            values: function (u, vals) {
              return vals.map(function (v) { var d = state.weekDays[v]; return d ? (u.width < 480 ? d.slice(8) : d.slice(5)) : ""; });
            } },
          { size: moneyAxisSize, values: function (u, vals) { return vals.map(fmtUSD); } },
          { scale: "req", side: 1, grid: { show: false }, size: 50,
            values: function (u, vals) { return vals.map(fmtInt); } }
        ]
      }, data, $("week-chart"));
    } else {
      chart.setData(data);
    }
  }

  function resizeCharts() {
    if (state.charts.spend) state.charts.spend.setSize({ width: chartWidth("spend-chart"), height: 260 });
    if (state.charts.week) state.charts.week.setSize({ width: chartWidth("week-chart"), height: 220 });
  }

  // ------------------------------------------------------------------ tables
  function renderSummary(sum) {
    renderWeekChart(sum);
    var today = sum.daily.length ? sum.daily[sum.daily.length - 1] : null;
    $("requests-today").textContent = today ? fmtInt(today.requests) : "–";
    ["task", "model", "provider", "key"].forEach(function (dim) {
      var d = sum.by[dim] || { today: [], window: [] };
      var todayBy = {};
      d.today.forEach(function (r) { todayBy[r.name] = r; });
      var top = d.window.length ? d.window[0].cost_usd : 0;
      var rows = d.window.map(function (w) {
        var t = todayBy[w.name] || { cost_usd: 0, requests: 0 };
        var name = el("td", { cls: "name", children: [el("span", { text: w.name }), bar(top > 0 ? w.cost_usd / top : 0)] });
        return el("tr", { data: { name: w.name }, children: [name, td(fmtUSD(t.cost_usd), "num today-usd"),
          td(fmtInt(t.requests), "num"), td(fmtUSD(w.cost_usd), "num"), td(fmtInt(w.requests), "num")] });
      });
      fillBody($("by-" + dim), rows, "no traffic in the last " + sum.days + " days");
    });
  }

  function renderDeployments(d) {
    var w = d.window;
    $("window-note").textContent = w.entries ? "(last " + fmtInt(w.entries) + " settled calls, since " + fmtTime(w.since) + ")" :
      "(no settled calls yet)";
    var names = Object.keys(d.deployments);
    var maxP99 = 1;
    names.forEach(function (n) { maxP99 = Math.max(maxP99, d.deployments[n].p99_ms || 0); });
    fillBody($("deployments-table"), names.map(function (n) {
      var x = d.deployments[n];
      var br = x.breaker;
      var p99 = bar((x.p99_ms || 0) / maxP99, "p99");
      var p50 = el("span", { cls: "p50" });
      p50.style.width = Math.min(100, ((x.p50_ms || 0) / maxP99) * 100).toFixed(1) + "%";
      p99.appendChild(p50);
      return el("tr", { data: { deployment: n }, cls: br !== "closed" ? "flag" : "", children: [
        td(n, "name"), td(x.provider, "name"),
        el("td", { children: [el("span", { cls: "state " + br, text: br.replace("_", "-"), data: { state: br } })] }),
        td(fmtInt(x.requests), "num"), td(x.requests ? fmtPct(x.error_rate) : "–", "num error-rate"),
        td(fmtLatency(x.p50_ms), "num p50"), td(fmtLatency(x.p99_ms), "num p99"), el("td", { children: [p99] })
      ] });
    }), "no deployments");
    renderCosts();
  }

  function renderCosts() {
    var d = state.data.deployments, a = state.data.alerts;
    if (!d) return;
    var alerts = (a && a.alerts) || [];
    var byPair = {};
    alerts.forEach(function (al) {
      var k = al.model + "\u0000" + al.task;
      (byPair[k] = byPair[k] || []).push(al);
    });
    var seen = {};
    var rows = d.model_task.map(function (r) {
      var k = r.model + "\u0000" + r.task;
      seen[k] = true;
      return costRow(r, byPair[k] || []);
    });
    Object.keys(byPair).forEach(function (k) {
      if (!seen[k]) rows.push(costRow({ model: byPair[k][0].model, task: byPair[k][0].task }, byPair[k]));
    });
    $("costs-note").textContent = "(last " + fmtInt(d.window.entries) + " settled calls)";
    fillBody($("costs-table"), rows, "no successful calls yet");
    $("alerts-note").textContent = a ? (alerts.length ? alerts.length + " token-inflation alert(s)" : "no token-inflation alerts") +
      " · threshold ±" + fmtPct(a.threshold) : "";
  }

  function costRow(r, alerts) {
    var text = alerts.map(function (al) {
      return (al.change > 0 ? "+" : "") + (al.change * 100).toFixed(0) + "% " + al.metric.replace("_", " ") +
        " (" + al.baseline_avg.toFixed(0) + " → " + al.recent_avg.toFixed(0) + ")";
    }).join("; ");
    return el("tr", { cls: alerts.length ? "flag" : "", data: { model: r.model, task: r.task }, children: [
      td(r.model, "name"), td(r.task, "name"), td(r.requests === undefined ? "–" : fmtInt(r.requests), "num"),
      td(r.cost_per_request_usd === undefined ? "–" : fmtUSD(r.cost_per_request_usd), "num"),
      td(r.avg_tokens_in === undefined ? "–" : r.avg_tokens_in.toFixed(0), "num"),
      td(r.avg_tokens_out === undefined ? "–" : r.avg_tokens_out.toFixed(0), "num"),
      td(text || "–", text ? "alert" : "muted")
    ] });
  }

  function renderRefusals(r) {
    $("refusals-today").textContent = fmtInt(r.today_total);
    var reasons = Object.keys(r.window).sort(function (x, y) { return r.window[y] - r.window[x]; });
    fillBody($("refusals-table"), reasons.map(function (reason) {
      return el("tr", { data: { reason: reason }, children: [td(reason.replace(/_/g, " "), "name"),
        td(fmtInt(r.today[reason] || 0), "num"), td(fmtInt(r.window[reason]), "num")] });
    }), "no refusals in the last 7 days");
  }

  function renderExperiments(x) {
    var rows = [];
    Object.keys(x.experiments || {}).forEach(function (name) {
      var e = x.experiments[name];
      var head = td(name + " — " + e.route + " / " + e.task + ", " + fmtPct(e.weight) + " of traffic", "name");
      head.colSpan = 5;
      rows.push(el("tr", { cls: "exp-head", children: [head] }));
      ["treatment", "control"].forEach(function (arm) {
        var a = e.arms[arm];
        if (!a) return;
        rows.push(el("tr", { data: { experiment: name, arm: arm }, children: [td("  " + arm, "name"),
          td(fmtInt(a.requests), "num"), td(a.requests ? fmtUSD(a.cost_per_request_usd) : "–", "num"),
          td(a.requests ? fmtLatency(a.avg_latency_ms) : "–", "num"), td(a.requests ? fmtPct(a.error_rate) : "–", "num")] }));
      });
    });
    fillBody($("experiments-table"), rows, "no experiments configured");
  }

  function renderCluster(c) {
    var names = Object.keys(c.replicas).sort();
    var now = Date.now() / 1000;
    fillBody($("replicas-table"), names.map(function (n) {
      var r = c.replicas[n];
      var differs = c.mismatch && r.config_hash !== c.this_config_hash;
      return el("tr", { cls: differs ? "flag" : "", data: { replica: n }, children: [td(n, "name"),
        el("td", { title: r.config_hash, children: [el("code", { text: String(r.config_hash).slice(0, 12) })] }),
        td(r.version), td(fmtAge(now - r.seen), "num")] });
    }), "no live replicas registered");
    if (c.mismatch) {
      setBadge($("cluster-badge"), "CONFIG MISMATCH · " + c.config_hashes.length + " hashes", "bad");
      $("replica-note").textContent = "Replicas run different configs and may decide differently; " +
        "highlighted rows differ from this replica's " + String(c.this_config_hash).slice(0, 12) + ".";
    } else {
      setBadge($("cluster-badge"), names.length + " replica" + (names.length === 1 ? "" : "s") + " · one config", "ok");
      $("replica-note").textContent = "All run config " + String(c.this_config_hash).slice(0, 12) + ".";
    }
  }

  function limitsCell(r) { return td((r.rpm ? fmtInt(r.rpm) : "–") + " / " + (r.tpm ? fmtInt(r.tpm) : "–"), "num"); }
  function leftCell(v) { return td(v === null || v === undefined ? "no budget" : fmtUSD(v), "num"); }
  function lastUseCell(iso) {  // the engine's time of the last settled request, as an age
    if (!iso) return td("never", "num");
    var cell = td(fmtAge(Math.max(0, (Date.now() - Date.parse(iso)) / 1000)), "num");
    cell.title = iso;
    return cell;
  }

  function renderKeys(k) {
    fillBody($("keys-table"), k.data.map(function (r) {
      return el("tr", { data: { key: r.id }, children: [el("td", { title: r.id, text: r.name, cls: "name" }),
        td(r.team || "–"), limitsCell(r), td(fmtUSD(r.spend_today_usd), "num"), leftCell(r.remaining_today_usd),
        td(fmtUSD(r.spend_month_usd), "num"), leftCell(r.remaining_month_usd), lastUseCell(r.last_used_at)] });
    }), "no runtime keys");
  }

  function renderTeams(t) {
    fillBody($("teams-table"), t.data.map(function (r) {
      return el("tr", { data: { team: r.id }, children: [td(r.id, "name"), td(fmtInt(r.keys), "num"), limitsCell(r),
        td(fmtUSD(r.spend_today_usd), "num"), leftCell(r.remaining_today_usd), td(fmtUSD(r.spend_month_usd), "num"),
        leftCell(r.remaining_month_usd), lastUseCell(r.last_used_at)] });
    }), "no teams");
  }

  // ------------------------------------------------------------------ start
  state.fmt = { usd: fmtUSD, latency: fmtLatency };
  state.spendScaleOf = spendScale;
  Array.prototype.forEach.call(document.querySelectorAll("#spend-range button"), function (btn) {
    btn.addEventListener("click", function () {
      state.range = btn.getAttribute("data-range");
      Array.prototype.forEach.call(document.querySelectorAll("#spend-range button"), function (o) {
        o.className = o === btn ? "on" : "";
      });
      if (state.data.series) renderSpendChart(state.data.series);
    });
  });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(resizeCharts, 100);
  });
  loop();
})();
