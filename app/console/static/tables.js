// The lookup table editor: rows edited in place, each Epicor code checked as it is typed (debounced),
// CSV import as a draft, publish and restore through /api/tables. No inline script (CSP script-src 'self').
(function () {
  "use strict";

  var editor = document.getElementById("editor");
  if (!editor) { return; }
  var table = editor.getAttribute("data-table");
  var api = "/api/tables/" + encodeURIComponent(table);
  var pair = editor.getAttribute("data-pair") || "default";  // each integration pair has its own tables
  var body = document.querySelector("#rows tbody");
  var DEBOUNCE_MS = 350;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function send(path, payload, contentType) {
    var url = api + path;
    if (pair !== "default") { url += (url.indexOf("?") < 0 ? "?" : "&") + "pair=" + encodeURIComponent(pair); }
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": contentType || "application/json", "X-CSRFToken": csrfToken(),
                "Accept": "application/json"},
      body: contentType ? payload : JSON.stringify(payload)
    }).then(function (response) {
      return response.json().catch(function () { return {error: "the server answered " + response.status}; })
        .then(function (answer) { return {status: response.status, answer: answer}; });
    });
  }

  function rows() {
    return Array.prototype.map.call(body.querySelectorAll("tr.row"), function (row) {
      return {key: row.querySelector("input.key").value.trim(), value: row.querySelector("input.value").value.trim()};
    });
  }

  function reasonType() {
    var found = rows().filter(function (row) { return row.key === "reason_type"; })[0];
    return found ? found.value : "";
  }

  function say(element, text, kind) {
    element.textContent = text;
    element.className = kind || "";
  }

  // -- the live check -----------------------------------------------------------------------------
  function showCheck(row, verdict) {
    var cell = row.querySelector("td.check");
    row.classList.remove("not-in-epicor", "in-epicor");
    if (!verdict.checked) { say(cell, "", "check"); return; }
    if (verdict.ok === true) {
      row.classList.add("in-epicor");
      say(cell, "✓ " + verdict.message, "check ok");
    } else if (verdict.ok === false) {
      row.classList.add("not-in-epicor");
      say(cell, "✗ " + verdict.message, "check bad");
    } else {
      say(cell, "? " + verdict.message, "check unknown");
    }
  }

  function check(row) {
    var key = row.querySelector("input.key").value.trim();
    var value = row.querySelector("input.value").value.trim();
    if (!key) { showCheck(row, {checked: false}); return; }
    var asked = key + "\u0000" + value;
    row.setAttribute("data-asked", asked);
    row.querySelector("td.check").textContent = "checking…";
    send("/check", {key: key, value: value, reason_type: reasonType()}).then(function (result) {
      if (row.getAttribute("data-asked") !== asked) { return; }  // typed on since: a newer answer follows
      showCheck(row, result.status === 200 ? result.answer : {checked: true, ok: null, message: result.answer.error});
    }).catch(function () {
      showCheck(row, {checked: true, ok: null, message: "not checked: the console cannot reach the server"});
    });
  }

  function scheduleCheck(row) {
    clearTimeout(row._checkTimer);
    row._checkTimer = setTimeout(function () { check(row); }, DEBOUNCE_MS);
  }

  function bindRow(row) {
    row.querySelectorAll("input").forEach(function (input) {
      input.addEventListener("input", function () {
        document.getElementById("publish-result").textContent = "";  // an earlier refusal no longer applies
        scheduleCheck(row);
      });
    });
    row.querySelector("button.delete-row").addEventListener("click", function () {
      row.remove();
      var first = body.querySelector("input.key");
      if (first) { first.focus(); }
    });
  }

  function addRow(key, value) {
    var row = document.createElement("tr");
    row.className = "row";
    var number = body.querySelectorAll("tr.row").length + 1;
    [["key", key], ["value", value]].forEach(function (pair) {
      var cell = document.createElement("td");
      var input = document.createElement("input");
      input.type = "text";
      input.className = pair[0];
      input.maxLength = 200;
      input.value = pair[1] === undefined || pair[1] === null ? "" : String(pair[1]);
      input.setAttribute("aria-label", (pair[0] === "key" ? "Key" : "Value") + " of row " + number);
      cell.appendChild(input);
      row.appendChild(cell);
    });
    var verdict = document.createElement("td");
    verdict.className = "check";
    verdict.setAttribute("aria-live", "polite");
    row.appendChild(verdict);
    var remove = document.createElement("td");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "delete-row";
    button.textContent = "Delete";
    button.setAttribute("aria-label", "Delete row " + number);
    remove.appendChild(button);
    row.appendChild(remove);
    body.appendChild(row);
    bindRow(row);
    return row;
  }

  body.querySelectorAll("tr.row").forEach(function (row) {
    bindRow(row);
    if (row.querySelector("td.check span.pending")) { check(row); }
  });

  document.getElementById("add-row").addEventListener("click", function () {
    addRow("", "").querySelector("input.key").focus();
  });

  // -- CSV import: the rows come back validated, as a draft ----------------------------------------
  function listProblems(element, heading, problems, where) {
    element.textContent = "";
    element.className = "bad";
    var title = document.createElement("p");
    title.textContent = heading;
    element.appendChild(title);
    var list = document.createElement("ul");
    (problems || []).forEach(function (problem) {
      var item = document.createElement("li");
      var place = problem[where] ? where + " " + problem[where] + (problem.key ? " (" + problem.key + ")" : "") + ": "
        : (problem.key ? problem.key + ": " : "");
      item.textContent = place + problem.message;
      list.appendChild(item);
    });
    element.appendChild(list);
  }

  document.getElementById("csv-file").addEventListener("change", function (event) {
    var file = event.target.files[0];
    var result = document.getElementById("csv-result");
    if (!file) { return; }
    file.text().then(function (text) {
      return send("/import?verdict=1", text, "text/csv");
    }).then(function (answer) {
      if (answer.status !== 200 || !answer.answer.ok) {
        listProblems(result, (answer.answer.error || "the CSV is refused") + "; nothing was applied:",
                     answer.answer.problems, "line");
        return;
      }
      body.textContent = "";
      answer.answer.rows.forEach(function (row) { check(addRow(row.key, row.value)); });
      say(result, "Imported " + answer.answer.rows.length + " rows from " + file.name +
          " as a draft: publish to apply them.", "ok");
    }).catch(function () { say(result, "The CSV could not be sent: the console cannot reach the server.", "bad"); })
      .then(function () { event.target.value = ""; });
  });

  // -- publish and restore ----------------------------------------------------------------------------
  var result = document.getElementById("publish-result");
  var comment = document.getElementById("comment");

  function published(answer) {
    say(result, "Published version " + answer.version + " of " + table + ". Workers use it from their next payment.",
        "ok");
    setTimeout(function () { window.location.reload(); }, 1200);
  }

  function refused(answer, status) {
    if (status === 422) {
      listProblems(result, answer.error || "refused", answer.problems, "row");
    } else if (status === 409 && answer.current) {
      say(result, answer.error + " (reload the page to see version " + answer.current + ")", "bad");
    } else {
      say(result, answer.error || ("refused (" + status + ")"), "bad");
    }
  }

  document.getElementById("publish-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var flagged = body.querySelectorAll("tr.not-in-epicor").length;
    if (flagged) {
      say(result, flagged + (flagged === 1 ? " row names a code" : " rows name codes") +
          " that Epicor does not have (marked ✗): fix them, or create the codes in Epicor first.", "bad");
      return;
    }
    send("/publish", {rows: rows(), comment: comment.value, base_version: Number(editor.getAttribute("data-base-version"))})
      .then(function (answer) { if (answer.status === 201) { published(answer.answer); } else { refused(answer.answer, answer.status); } })
      .catch(function () { say(result, "Not published: the console cannot reach the server.", "bad"); });
  });

  document.querySelectorAll("button.restore").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!comment.value.trim()) {
        say(result, "A comment is required to restore a version: say why, in the comment field.", "bad");
        comment.focus();
        return;
      }
      send("/restore", {version: Number(button.getAttribute("data-version")), comment: comment.value,
                        base_version: Number(editor.getAttribute("data-base-version"))})
        .then(function (answer) { if (answer.status === 201) { published(answer.answer); } else { refused(answer.answer, answer.status); } })
        .catch(function () { say(result, "Not restored: the console cannot reach the server.", "bad"); });
    });
  });
}());
