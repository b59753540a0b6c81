// The Overview's live parts: each element with data-src and data-every is fetched again every
// data-every seconds and swapped in; the per-minute chart is drawn with uPlot from its JSON series.
// A failed fetch keeps the last figures and marks them stale (no console noise); a session that
// expired sends the browser to the login page. Loaded as a static file: the CSP allows no inline script.
(function () {
  "use strict";

  var COLOURS = { done: "#1a7f37", dead: "#cf222e", ignored: "#6e7781" };
  var FALLBACK = ["#0969da", "#8250df", "#bf8700", "#1b7c83"];
  var chart = null;
  var chartLabels = "";

  function withWindow(src) {
    var window_ = new URLSearchParams(location.search).get("window");
    return window_ ? src + (src.indexOf("?") < 0 ? "?" : "&") + "window=" + encodeURIComponent(window_) : src;
  }

  function fetchFresh(src) {
    return fetch(withWindow(src), { headers: { Accept: "text/html, application/json" }, cache: "no-store" })
      .then(function (response) {
        if (response.redirected && response.url.indexOf("/console/login") >= 0) {
          location.assign(response.url);
          throw new Error("signed out");
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response;
      });
  }

  function refreshFragment(element) {
    return fetchFresh(element.dataset.src)
      .then(function (response) { return response.text(); })
      .then(function (html) {
        element.innerHTML = html;
        element.removeAttribute("data-stale");
        element.dataset.refreshed = String(Date.now());
      })
      .catch(function () { element.setAttribute("data-stale", "true"); });
  }

  function colour(name, index) {
    return COLOURS[name] || FALLBACK[index % FALLBACK.length];
  }

  function drawChart(element, payload) {
    if (!payload.available || typeof uPlot === "undefined") { return; }
    var outcomes = Object.keys(payload.series);
    var data = [payload.minutes].concat(outcomes.map(function (name) { return payload.series[name]; }));
    var labels = outcomes.join(",");
    if (chart && labels === chartLabels) {
      chart.setData(data);
      return;
    }
    if (chart) { chart.destroy(); }
    chartLabels = labels;
    var series = [{ label: "Time" }].concat(outcomes.map(function (name, i) {
      return { label: name, stroke: colour(name, i), width: 1.5, points: { show: false } };
    }));
    chart = new uPlot({
      width: Math.max(320, element.clientWidth || 800),
      height: 220,
      series: series,
      axes: [{}, { label: "events / min" }],
      scales: { x: { time: true } },
    }, data, element);
  }

  function refreshChart(element) {
    return fetchFresh(element.dataset.src)
      .then(function (response) { return response.json(); })
      .then(function (payload) {
        drawChart(element, payload);
        element.dataset.refreshed = String(Date.now());
      })
      .catch(function () { element.setAttribute("data-stale", "true"); });
  }

  function every(element, refresh) {
    var seconds = Math.max(1, Number(element.dataset.every) || 5);
    setInterval(function () {
      if (!document.hidden) { refresh(element); }
    }, seconds * 1000);
  }

  function start() {
    var chartElement = document.getElementById("per-minute-chart");
    document.querySelectorAll("[data-src][data-every]").forEach(function (element) {
      if (element === chartElement) { return; }
      every(element, refreshFragment);
    });
    if (chartElement) {
      refreshChart(chartElement);
      every(chartElement, refreshChart);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
