// pg-batch-exporter run report: draws the charts from the JSON inlined in #chart-data with uPlot.
// No network: everything this page needs is in the file. Each chart records what it drew in
// window.reportCharts (id, series, points), which the report's browser test reads.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var palette = { CPU: "#2e7d32", Lock: "#c62828", LWLock: "#ef6c00", IO: "#1565c0", IPC: "#6a1b9a",
                  Client: "#00838f", BufferPin: "#8d6e63", Timeout: "#9e9e9e", Extension: "#455a64" };
  var extra = ["#ad1457", "#283593", "#558b2f", "#f9a825"];
  window.reportCharts = [];

  function color(name, i) { return palette[name] || extra[i % extra.length]; }
  function width(el) { return Math.max(320, el.clientWidth || 800); }
  function bytes(v) {
    if (v == null) return "";
    var units = ["B", "kB", "MB", "GB", "TB"], i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (Math.round(v * 10) / 10) + " " + units[i];
  }
  function seconds(v) { return v == null ? "" : v + " s"; }

  function draw(id, title, x, series, yLabel, yFormat) {
    var el = document.getElementById(id);
    if (!el) return;
    var opts = {
      title: title, width: width(el), height: 260,
      scales: { x: { time: false } },
      axes: [{ label: "seconds from the start of the run", values: function (u, vals) { return vals.map(seconds); } },
             { label: yLabel, size: 70, values: yFormat ? function (u, vals) { return vals.map(yFormat); } : undefined }],
      series: [{ label: "s" }].concat(series.map(function (s) {
        return { label: s.label, stroke: s.color, width: 2, dash: s.dash, spanGaps: false, points: { show: x.length < 3 } };
      }))
    };
    var plot = new uPlot(opts, [x].concat(series.map(function (s) { return s.values; })), el);
    window.reportCharts.push({ id: id, series: series.length, points: x.length, plot: plot });
  }

  var w = data.waits_over_time;
  if (w && w.classes && w.classes.length) {
    var waitSeries = [];
    w.classes.forEach(function (c, i) {
      waitSeries.push({ label: c, color: color(c, i), values: w.run[c] });
      if (w.baseline && w.baseline[c]) {
        waitSeries.push({ label: c + " (baseline)", color: color(c, i), dash: [6, 4], values: w.baseline[c] });
      }
    });
    draw("chart-waits", "Average active sessions by wait class", w.t, waitSeries, "sessions");
  }

  var a = data.activity_over_time;
  if (a && a.t && a.t.length) {
    draw("chart-bytes", "WAL and temp written per second", a.t, [
      { label: "WAL bytes/s", color: "#1565c0", values: a.wal_bytes_per_s },
      { label: "temp bytes/s", color: "#c62828", values: a.temp_bytes_per_s }
    ], "bytes/s", bytes);
    draw("chart-blocks", "Blocks read, backend writes and checkpoints", a.t, [
      { label: "blocks read/s", color: "#2e7d32", values: a.blocks_read_per_s },
      { label: "backend buffer writes/s", color: "#ef6c00", values: a.backend_buffer_writes_per_s },
      { label: "requested checkpoints", color: "#6a1b9a", values: a.checkpoints_requested },
      { label: "timed checkpoints", color: "#9e9e9e", values: a.checkpoints_timed }
    ], "per second / count");
  }
})();
