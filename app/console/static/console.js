// The console's one hand-written script: CSRF on every htmx request, and error answers shown in place.
// No inline scripts anywhere, so the Content-Security-Policy can say script-src 'self'.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // hx-headers on <body> already sends it; this covers fragments swapped in from elsewhere.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRFToken"] = csrfToken();
  });

  // htmx 2 leaves 4xx/5xx answers unswapped; ours are pages that say what went wrong: show them.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var type = event.detail.xhr.getResponseHeader("Content-Type") || "";
    if (status >= 400 && status < 600 && type.indexOf("text/html") === 0) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A request that never got an answer (network down): say so instead of doing nothing.
  document.addEventListener("htmx:sendError", function () {
    var main = document.querySelector("main");
    if (main && !document.getElementById("offline")) {
      var note = document.createElement("p");
      note.id = "offline";
      note.className = "flash error";
      note.textContent = "The console cannot reach the server; the page will update once it can.";
      main.prepend(note);
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var note = document.getElementById("offline");
    if (note && event.detail.successful) { note.remove(); }
  });
})();
