/* Draws the per-day activity charts with the vendored uPlot. Data: a json_script element named by data-chart. */
(function () {
  "use strict";
  if (!window.uPlot) return;
  var css = getComputedStyle(document.documentElement);
  var brand = (css.getPropertyValue("--brand") || "#4f46e5").trim();

  function money(symbol, currency) {
    return function (u, v) { return v == null ? "—" : (symbol || "") + v.toLocaleString(undefined, {maximumFractionDigits: 2}) + (symbol ? "" : " " + currency); };
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source) return;
    var d = JSON.parse(source.textContent);
    var fmtMoney = money(d.symbol, d.currency);
    var width = Math.max(el.clientWidth, 280);
    var points = {show: d.days.length <= 45, size: 5};
    var opts = {
      width: width,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      height: 260,
      cursor: {drag: {x: false, y: false}},
      legend: {live: true},
      scales: {x: {time: true}, n: {range: function (u, lo, hi) { return [0, Math.max(hi, 4)]; }}, m: {range: function (u, lo, hi) { return [0, Math.max(hi, 1)]; }}},
      axes: [
        {stroke: "#6b7280", grid: {stroke: "#f1f5f9"}, space: 70, incrs: [86400, 86400 * 2, 86400 * 7, 86400 * 14, 86400 * 30, 86400 * 91, 86400 * 182, 86400 * 365],
         values: function (u, splits) { return splits.map(function (t) { return new Date(t * 1000).toLocaleDateString(undefined, {month: "short", day: "numeric", timeZone: "UTC"}); }); }},
        {scale: "n", stroke: "#6b7280", grid: {stroke: "#f1f5f9"}, size: 50,
         incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000, 250000, 1000000]},
        {scale: "m", side: 1, stroke: "#6b7280", grid: {show: false}, size: 70, values: function (u, vals) { return vals.map(function (v) { return fmtMoney(u, v); }); }}
      ],
      series: [
        {value: function (u, t) { return t == null ? "" : new Date(t * 1000).toLocaleDateString(undefined, {year: "numeric", month: "short", day: "numeric", timeZone: "UTC"}); }},
        {label: "Clicks", scale: "n", stroke: "#94a3b8", width: 1.5, points: points},
        {label: "Referrals", scale: "n", stroke: brand, width: 2, points: points},
        {label: "Customers", scale: "n", stroke: "#059669", width: 2, points: points},
        {label: "Commissions", scale: "m", stroke: "#d97706", width: 2, fill: "rgba(217,119,6,0.08)", value: fmtMoney, points: points}
      ]
    };
    el.innerHTML = "";
    var plot = new uPlot(opts, [d.days, d.clicks, d.referrals, d.customers, d.commissions], el);
    var pending;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () { plot.setSize({width: Math.max(el.clientWidth, 280), height: 260}); }, 100);
    });
  }

  var charts = document.querySelectorAll("[data-chart]");
  for (var i = 0; i < charts.length; i++) draw(charts[i]);
})();
