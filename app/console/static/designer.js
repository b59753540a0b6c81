// The mapping designer (/console/mappings): edit one document mapping beside a real event, then publish.
// The page edits the mapping model (each target field's source and transforms) and the server applies each
// edit to the YAML text (/api/designer/edit keeps every other line and comment); every change previews the
// whole draft on the chosen event (/api/mappings/preview) so the row's value and the document update at once.
// Every action has a keyboard path: a source is a button (Enter picks it), each row has "Map here".
(function () {
  "use strict";

  var root, state = {
    pair: "default", flow: "", document: "", model: null, yaml: "", liveYaml: "", baseVersion: null, sections: [],
    samples: [], sample: "", sources: [], picked: null, preview: null, transforms: {}, suggestions: {}
  };

  // -- helpers ------------------------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) { return; }
      if (name === "text") { node.textContent = value; } else if (name.indexOf("on") === 0) {
        node.addEventListener(name.slice(2), value);
      } else { node.setAttribute(name, value === true ? "" : value); }
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }
  // Each integration pair has its own mappings: every call of the designer and mappings APIs names the pair.
  function forPair(url) {
    if (state.pair === "default" || !/^\/api\/(designer|mappings)\//.test(url + "/")) { return url; }
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "pair=" + encodeURIComponent(state.pair);
  }
  function api(method, url, body) {
    url = forPair(url);
    var options = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (method !== "GET") { options.headers["X-CSRFToken"] = csrf(); }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (ignored) { data = { error: text.slice(0, 200) }; }
        return { status: response.status, ok: response.ok, data: data || {} };
      });
    }, function () {
      return { status: 0, ok: false, data: { error: "the console cannot reach the server" } };
    });
  }
  function announce(text) { $("announce").textContent = text; }
  function say(text, isError) {
    var box = $("message");
    box.hidden = !text;
    box.textContent = text || "";
    box.className = "flash" + (isError ? " error" : "");
  }
  function warn(text) { $("warning").hidden = !text; $("warning").textContent = text || ""; }
  function shown(value) {
    if (value === undefined) { return ""; }
    return typeof value === "string" ? value : JSON.stringify(value);
  }
  function clone(value) { return value === undefined ? undefined : JSON.parse(JSON.stringify(value)); }
  function sourceText(spec) {
    if (!spec) { return ""; }
    if ("from" in spec) { return spec.from; }
    if ("const" in spec) { return "constant " + shown(spec["const"]); }
    if ("template" in spec) { return "template " + spec.template; }
    if ("placeholder" in spec) { return "assigned by Epicor (" + spec.placeholder + ")"; }
    return "";
  }
  function stepsText(spec) {
    return ((spec && spec.transforms) || []).map(function (step) {
      var name = typeof step === "string" ? step : step.name;
      var known = state.transforms[name];
      var params = typeof step === "string" ? [] : Object.keys(step).filter(function (k) { return k !== "name"; })
        .map(function (k) { return k + " " + shown(step[k]); });
      return (known ? known.label : name) + (params.length ? " (" + params.join(", ") + ")" : "");
    }).join(" → ");
  }

  // -- loading ------------------------------------------------------------------------------------------
  function loadDocument() {
    warn(""); say("");
    return api("GET", "/api/designer/" + state.flow + "/" + state.document).then(function (answer) {
      if (!answer.ok) { say(answer.data.error || "the mapping cannot be loaded", true); return; }
      var model = answer.data;
      state.model = model;
      state.yaml = model.text; state.liveYaml = model.text; state.baseVersion = model.version;
      state.transforms = {};
      model.transforms.forEach(function (t) { state.transforms[t.name] = t; });
      state.sections = model.sections;
      state.live = {};
      model.sections.forEach(function (section) {
        section.targets.forEach(function (target) { state.live[section.section + "." + target.field] = clone(target.spec); });
      });
      state.suggestions = {};
      $("version-note").textContent = "Live version " + model.version + " (" + model.who + ")";
      renderTargets(); renderAddField(); renderYaml(); loadHistory();
      return loadSamples().then(loadSources).then(refresh);
    });
  }

  function loadSamples() {
    return api("GET", "/api/designer/" + state.flow + "/samples").then(function (answer) {
      var select = $("sample");
      var wanted = state.sample || root.getAttribute("data-event") || "";
      select.textContent = "";
      select.appendChild(el("option", { value: "", text: "the flow's shipped sample" }));
      state.samples = answer.ok ? answer.data.samples : [];
      state.samples.forEach(function (sample) {
        var label = sample.event_id + " · " + (sample.type || "") + " · " + sample.state +
          (sample.state === "dead" ? " (dead-lettered: " + (sample.reason || "") + ")" : "") +
          (sample.amount ? " · " + sample.amount : "");
        select.appendChild(el("option", { value: sample.event_id, text: label }));
      });
      var known = state.samples.some(function (s) { return s.event_id === wanted; });
      if (!known && !wanted && state.samples.length) {
        var firstDone = state.samples.filter(function (s) { return s.state === "done"; })[0];
        wanted = (firstDone || state.samples[0]).event_id;
        known = true;
      }
      state.sample = known ? wanted : "";
      select.value = state.sample;
      $("sample-note").textContent = answer.ok ? (answer.data.note || "") : (answer.data.error || "");
    });
  }

  function builders() { return (state.model && state.model.builders || []).join(","); }

  function loadSources() {
    var url = "/api/designer/" + state.flow + "/sources?builders=" + encodeURIComponent(builders()) +
      (state.sample ? "&event_id=" + encodeURIComponent(state.sample) : "");
    return api("GET", url).then(function (answer) {
      state.sources = answer.ok ? answer.data.fields : [];
      if (!answer.ok) { say(answer.data.error || "the source fields cannot be loaded", true); }
      renderSources();
    });
  }

  function sampleRecord() {
    return state.samples.filter(function (s) { return s.event_id === state.sample; })[0] || null;
  }

  // -- sources ------------------------------------------------------------------------------------------
  function renderSources() {
    var list = $("source-tree");
    var filter = $("source-search").value.trim().toLowerCase();
    list.textContent = "";
    var matching = {};
    state.sources.forEach(function (source) {
      var text = (source.path + " " + shown(source.value)).toLowerCase();
      if (!filter || text.indexOf(filter) >= 0) {
        matching[source.path] = true;
        // its ancestors stay, so a match is seen where it lives in the tree
        var parts = source.path.split(".");
        for (var i = 1; i < parts.length; i++) { matching[parts.slice(0, i).join(".")] = true; }
      }
    });
    state.sources.forEach(function (source) {
      if (!matching[source.path]) { return; }
      var depth = source.path.split(".").length - 1;
      var name = source.path.split(".").pop();
      var value = source.value === null || source.value === undefined ? "" : shown(source.value);
      var leaf = source.type !== "object" && source.type !== "list";
      var button = el("button", {
        type: "button", "class": "source" + (state.picked === source.path ? " picked" : ""),
        draggable: "true", "data-path": source.path, "aria-pressed": state.picked === source.path ? "true" : "false",
        "aria-label": "Source " + source.path + ", " + source.type + (value ? ", value " + value : "") +
          (source.origin === "sample" && state.sample ? " (from the shipped sample)" : ""),
        ondragstart: function (event) {
          event.dataTransfer.setData("text/plain", source.path);
          event.dataTransfer.effectAllowed = "copy";
        },
        onclick: function () { pick(source.path); }
      }, [el("span", { "class": "name", text: name }), el("span", { "class": "type", text: source.type }),
        leaf ? el("span", { "class": "value" + (source.origin === "sample" ? " sample" : ""), text: value }) : null]);
      list.appendChild(el("li", { style: "padding-left:" + depth * 0.9 + "rem", "data-path": source.path }, [button]));
    });
    $("picked").textContent = state.picked ? "Picked: " + state.picked + ". Press “Map here” on a row." : "";
  }

  function pick(path) {
    state.picked = state.picked === path ? null : path;
    renderSources();
    var again = document.querySelector('#source-tree button[data-path="' + cssEscape(path) + '"]');
    if (again) { again.focus(); }
    announce(state.picked ? "Picked " + path + ". Now press Map here on the Epicor field it goes to." : "Pick cleared.");
  }

  function cssEscape(text) { return window.CSS && CSS.escape ? CSS.escape(text) : text.replace(/"/g, '\\"'); }

  // A tree path as the section reads it: a line field reads ``line.x`` where the tree says ``each[].x``.
  function expressionFor(section, path) {
    var each = section.each;
    if (each && path.indexOf(each + "[].") === 0) { return "line." + path.slice(each.length + 3); }
    return path.replace(/\[\]/g, "[0]");
  }

  // -- targets ------------------------------------------------------------------------------------------
  function targetOf(sectionName, field) {
    var section = sectionOf(sectionName);
    return section ? section.targets.filter(function (t) { return t.field === field; })[0] : null;
  }
  function sectionOf(name) { return state.sections.filter(function (s) { return s.section === name; })[0]; }
  function rowId(section, field) { return "row-" + section + "-" + field; }

  function renderTargets() {
    var holder = $("targets");
    holder.textContent = "";
    state.sections.forEach(function (section) {
      var table = el("table", { "class": "target-table", "aria-label": section.table + " (" + section.section + ")" });
      table.appendChild(el("caption", { text: section.table + (section.section === "lines" ? " — each line" +
        (section.each ? " of " + section.each : "") : " — header") }));
      table.appendChild(el("thead", {}, [el("tr", {}, ["Field", "Type", "Source", "Transforms", "Value", "Status", "Actions"]
        .map(function (h) { return el("th", { scope: "col", text: h }); }))]));
      var body = el("tbody");
      section.targets.forEach(function (target) {
        if (!target.listed) { return; }
        body.appendChild(targetRow(section, target));
        var editor = state.editing === section.section + "." + target.field;
        if (editor) { body.appendChild(editorRow(section, target)); }
        var found = state.suggestions[section.section + "." + target.field];
        if (found) { body.appendChild(suggestionRow(section, target, found)); }
      });
      table.appendChild(body);
      holder.appendChild(table);
    });
    showPreview();
  }

  function targetRow(section, target) {
    var key = section.section + "." + target.field;
    var changed = JSON.stringify(target.spec || null) !== JSON.stringify(state.live[key] || null);
    var drop = el("td", { "class": "drop", "data-field": target.field,
      ondragover: function (event) { event.preventDefault(); event.dataTransfer.dropEffect = "copy"; drop.classList.add("over"); },
      ondragleave: function () { drop.classList.remove("over"); },
      ondrop: function (event) {
        event.preventDefault(); drop.classList.remove("over");
        var path = event.dataTransfer.getData("text/plain");
        if (path) { assign(section, target, path); }
      }
    }, [el("code", { text: sourceText(target.spec) || "—" }), " ",
      el("button", { type: "button", "class": "small map-here", onclick: function () {
        if (!state.picked) { announce("Pick a source field first (Enter on a field in the source list)."); return; }
        assign(section, target, state.picked);
      }, "aria-label": "Map the picked source to " + target.field, text: "Map here" })]);
    var mapped = !!target.spec;
    var row = el("tr", { id: rowId(section.section, target.field), "data-field": target.field,
      "data-section": section.section, "class": changed ? "changed" : null }, [
      el("th", { scope: "row" }, [el("span", { "class": "field", text: target.field }), el("br"),
        el("span", { "class": "muted small", text: target.label })]),
      el("td", { "class": "small", text: target.type + (target.length ? " (" + target.length + ")" : "") +
        (target.required ? " · required" : "") }),
      drop,
      el("td", { "class": "small steps", text: stepsText(target.spec) || "—" }),
      el("td", { "class": "value" }, [el("code", { "class": "resolved" })]),
      el("td", { "class": "status" }),
      el("td", { "class": "row-actions" }, [
        el("button", { type: "button", "class": "small", "aria-expanded": state.editing === key ? "true" : "false",
          "aria-label": "Edit the source and transforms of " + target.field,
          onclick: function () { state.editing = state.editing === key ? null : key; renderTargets(); focusEditor(key); },
          text: "Transforms" }),
        mapped ? null : el("button", { type: "button", "class": "small suggest",
          "aria-label": "Suggest a source for " + target.field, onclick: function () { suggest([target.field], section); },
          text: "Suggest" }),
        mapped && !target.required ? el("button", { type: "button", "class": "small secondary",
          "aria-label": "Unmap " + target.field, onclick: function () { change(section, target, null); },
          text: "Unmap" }) : null
      ])
    ]);
    return row;
  }

  function focusEditor(key) {
    var editor = document.querySelector('tr.editor[data-key="' + cssEscape(key) + '"] select, tr.editor[data-key="' + cssEscape(key) + '"] input');
    if (editor) { editor.focus(); }
  }

  function assign(section, target, path) {
    var spec = clone(target.spec) || {};
    ["from", "const", "template", "placeholder", "values"].forEach(function (k) { delete spec[k]; });
    var fresh = { from: expressionFor(section, path) };
    Object.keys(spec).forEach(function (k) { fresh[k] = spec[k]; });
    state.picked = null;
    renderSources();
    return change(section, target, fresh).then(function () {
      announce(target.field + " now takes " + fresh.from + ".");
    });
  }

  // One field's spec changed: the server edits the YAML text, then the draft is previewed.
  function change(section, target, spec) {
    return api("POST", "/api/designer/edit", { yaml: state.yaml, section: section.section, field: target.field, spec: spec })
      .then(function (answer) {
        if (!answer.ok) { say(answer.data.error || "the change cannot be made", true); return; }
        state.yaml = answer.data.yaml;
        target.spec = spec;
        target.listed = true;
        renderTargets(); renderYaml();
        return refresh();
      });
  }

  // -- the transform editor --------------------------------------------------------------------------------
  function editorRow(section, target) {
    var key = section.section + "." + target.field;
    var spec = clone(target.spec) || {};
    var kind = ["from", "const", "template", "placeholder"].filter(function (k) { return k in spec; })[0] || "from";
    var kindSelect = el("select", { "aria-label": "Kind of source for " + target.field }, ["from", "const", "template"]
      .concat(kind === "placeholder" ? ["placeholder"] : []).map(function (k) {
        return el("option", { value: k, selected: k === kind, text: { from: "a source field", "const": "a constant",
          template: "a template", placeholder: "assigned by Epicor" }[k] });
      }));
    var valueInput = el("input", { "aria-label": "Source of " + target.field, size: "40",
      value: kind === "const" ? shown(spec["const"]) : (spec[kind] === undefined ? "" : String(spec[kind])) });
    var defaultInput = el("input", { "aria-label": "Default when the source gives nothing", size: "16",
      value: spec["default"] === undefined ? "" : shown(spec["default"]) });
    var steps = el("ol", { "class": "steps-editor" });
    var working = ((spec.transforms || []).map(function (s) { return typeof s === "string" ? { name: s } : s; }));
    function drawSteps() {
      steps.textContent = "";
      working.forEach(function (step, index) { steps.appendChild(stepEditor(target, working, index, drawSteps)); });
    }
    drawSteps();
    var addSelect = el("select", { "aria-label": "Transform to add" }, [el("option", { value: "", text: "add a transform…" })]
      .concat(Object.keys(state.transforms).map(function (name) {
        return el("option", { value: name, text: state.transforms[name].label });
      })));
    var apply = function () {
      var fresh = {};
      var text = valueInput.value;
      if (kindSelect.value === "const") { fresh["const"] = constantOf(text); } else { fresh[kindSelect.value] = text; }
      if (kindSelect.value === "template" && spec.values) { fresh.values = spec.values; }
      if (working.length) { fresh.transforms = working.map(stepSpec); }
      if (defaultInput.value !== "") { fresh["default"] = constantOf(defaultInput.value); }
      ["required", "omit_if_null"].forEach(function (k) { if (k in spec) { fresh[k] = spec[k]; } });
      state.editing = null;
      change(section, target, fresh).then(function () {
        var row = $(rowId(section.section, target.field));
        if (row) { row.querySelector("button").focus(); }
      });
    };
    return el("tr", { "class": "editor", "data-key": key }, [el("td", { colspan: "7" }, [
      el("div", { "class": "editor-line" }, [el("label", {}, ["Source ", kindSelect]), " ", valueInput, " ",
        el("label", {}, ["Default ", defaultInput])]),
      steps,
      el("div", { "class": "editor-line" }, [addSelect, " ",
        el("button", { type: "button", "class": "small", text: "Add transform", onclick: function () {
          if (!addSelect.value) { return; }
          working.push({ name: addSelect.value }); drawSteps();
          announce("Added " + state.transforms[addSelect.value].label);
        } }), " ",
        el("button", { type: "button", text: "Apply", onclick: apply }), " ",
        el("button", { type: "button", "class": "secondary", text: "Cancel", onclick: function () {
          state.editing = null; renderTargets();
        } })])
    ])]);
  }

  function constantOf(text) {
    if (/^-?\d+$/.test(text)) { return parseInt(text, 10); }
    if (text === "true" || text === "false") { return text === "true"; }
    return text;
  }

  function stepSpec(step) {
    var out = { name: step.name };
    Object.keys(step).forEach(function (k) { if (k !== "name" && step[k] !== "" && step[k] !== undefined) { out[k] = step[k]; } });
    return out;
  }

  function stepEditor(target, working, index, redraw) {
    var step = working[index];
    var known = state.transforms[step.name] || { label: step.name, help: "", params: [], examples: [] };
    var example = known.examples && known.examples[0];
    var helpId = "help-" + target.field + "-" + index;
    var item = el("li", { "class": "step" }, [
      el("strong", { text: known.label }), " ",
      el("span", { "class": "muted small", text: "(" + step.name + ")" }), " ",
      el("button", { type: "button", "class": "small secondary", "aria-label": "Remove the transform " + known.label,
        text: "Remove", onclick: function () { working.splice(index, 1); redraw(); } }),
      el("p", { "class": "help small", id: helpId, text: known.help +
        (example ? " Example: " + shown(example.value) + (Object.keys(example.params || {}).length ? " with " +
          JSON.stringify(example.params) : "") + " → " + shown(example.result) : "") })
    ]);
    known.params.forEach(function (param) {
      var current = step[param.name];
      var fromSource = current && typeof current === "object" && "from" in current;
      var input;
      if (param.choices && param.choices.length) {
        input = el("select", {}, [el("option", { value: "", text: "—" })].concat(param.choices.map(function (c) {
          return el("option", { value: c, selected: c === current, text: c });
        })));
      } else {
        input = el("input", { size: "24", value: fromSource ? current.from : (current === undefined || current === null ? "" : shown(current)),
          placeholder: param.required ? "required" : (param["default"] === null ? "" : "default " + shown(param["default"])) });
      }
      var byPath = el("input", { type: "checkbox", checked: fromSource, "aria-label": param.name + " is read from a source field" });
      var update = function () {
        var raw = input.value;
        if (raw === "") { delete step[param.name]; return; }
        if (byPath.checked) { step[param.name] = { from: raw }; return; }
        step[param.name] = param.type === "int" ? parseInt(raw, 10) : (param.type === "bool" ? raw === "true" : raw);
      };
      input.addEventListener("change", update);
      byPath.addEventListener("change", update);
      input.setAttribute("aria-describedby", helpId);
      item.appendChild(el("div", { "class": "param" }, [el("label", {}, [param.name + (param.required ? " *" : "") + " ", input]),
        " ", el("label", { "class": "small" }, [byPath, " from a field"]),
        el("span", { "class": "muted small", text: " " + param.help })]));
    });
    return item;
  }

  // -- preview ------------------------------------------------------------------------------------------
  function refresh() {
    var body = { flow: state.flow, draft: {} };
    body.draft[state.document] = state.yaml;
    if (state.sample) { body.event_id = state.sample; } else { body.sample = true; }
    return api("POST", "/api/mappings/preview", body).then(function (answer) {
      state.preview = answer.ok ? answer.data : { errors: [answer.data.error || "the preview failed"], documents: [] };
      if (answer.data.problems) { state.preview.errors = answer.data.errors || state.preview.errors; }
      showPreview();
      renderDryRun();
    });
  }

  function documentOfKind() {
    var documents = (state.preview && state.preview.documents) || [];
    return documents.filter(function (d) { return d.kind === state.document; })[0] || null;
  }

  function errorsOf(section, field, errors) {
    var table = section.table;
    return errors.filter(function (text) {
      return text.indexOf(section.section + "." + field + ":") >= 0 || text.indexOf(section.section + "." + field + ".") >= 0 ||
        text.indexOf(table + "." + field + " ") >= 0 || text.indexOf(table + "." + field + ":") >= 0 ||
        new RegExp("(^|[^A-Za-z0-9_.])" + field + "( |:|'|$)").test(text.replace(/^[^:]*:\d+:/, ""));
    });
  }

  function showPreview() {
    if (!state.preview) { return; }
    var errors = state.preview.errors || [];
    var placed = {};
    var documentFound = documentOfKind();
    state.sections.forEach(function (section) {
      section.targets.forEach(function (target) {
        var row = $(rowId(section.section, target.field));
        if (!row) { return; }
        var mine = errorsOf(section, target.field, errors);
        mine.forEach(function (text) { placed[text] = true; });
        var value;
        var lines = documentFound ? documentFound.lines || [] : [];
        if (documentFound && section.section === "header") { value = documentFound.header[target.field]; }
        if (documentFound && section.section === "lines" && lines.length) { value = lines[0][target.field]; }
        var shownValue = value === undefined ? "" : shown(value) +
          (section.section === "lines" && lines.length > 1 ? "  (line 1 of " + lines.length + ")" : "");
        row.querySelector(".resolved").textContent = shownValue;
        var status = row.querySelector(".status");
        status.textContent = "";
        if (mine.length) {
          status.appendChild(el("span", { "class": "badge bad", text: "error" }));
          mine.forEach(function (text) { status.appendChild(el("p", { "class": "error small row-error", text: text })); });
        } else if (target.required && !target.spec) {
          status.appendChild(el("span", { "class": "badge bad", text: "required, not mapped" }));
        } else if (target.spec) {
          status.appendChild(el("span", { "class": "badge ok", text: row.classList.contains("changed") ? "changed" : "ok" }));
        } else {
          status.appendChild(el("span", { "class": "muted small", text: "not mapped" }));
        }
      });
    });
    var general = $("general-errors");
    general.textContent = "";
    errors.filter(function (text) { return !placed[text]; }).forEach(function (text) {
      general.appendChild(el("li", { "class": "error", text: text }));
    });
    $("document-json").textContent = documentFound ? JSON.stringify(documentFound, null, 2)
      : (errors.length ? "No document: see the problems above." : "This event builds no " + state.document + " document.");
  }

  // -- dry run ------------------------------------------------------------------------------------------
  function renderDryRun() {
    var record = sampleRecord();
    $("dry-draft").textContent = state.preview ? JSON.stringify(state.preview.documents || [], null, 2) : "";
    $("dead-box").hidden = !(record && record.state === "dead");
    if (!record) {
      $("dryrun-note").textContent = "The shipped sample was never posted: choose a received event to compare.";
      $("dry-posted").textContent = "";
      return;
    }
    $("dead-reason").textContent = record.state === "dead" ? "Dead-lettered: " + (record.reason || "") + " " +
      (record.message || "") + ". Publish a fix, then retry it here." : "";
    $("dryrun-note").textContent = "Event " + record.event_id + " (" + record.state + ").";
    api("GET", "/api/designer/events/" + encodeURIComponent(record.event_id) + "/posted").then(function (answer) {
      if (!answer.ok) { $("dry-posted").textContent = answer.data.error || ""; return; }
      var posted = answer.data;
      $("dry-posted").textContent = posted.documents.length ? JSON.stringify({ keys: posted.keys, documents: posted.documents }, null, 2)
        : "Nothing was posted for this event" + (posted.error ? " (" + shown(posted.error.reason || posted.error) + ")" : "") + ".";
    });
  }

  function retryEvent() {
    var record = sampleRecord();
    if (!record) { return; }
    api("POST", "/api/dlq/" + encodeURIComponent(record.event_id) + "/retry", {}).then(function (answer) {
      if (answer.ok) {
        say("Event " + record.event_id + " was queued again from its failed stage; it will use the published mapping.");
        record.state = "queued";
        $("dead-box").hidden = true;
      } else {
        say(answer.data.error || "the event could not be retried", true);
      }
    });
  }

  // -- suggestions (the suggestion engine's own endpoints; nothing is applied without a click) ------------
  function suggest(fields, section) {
    var sectionsWanted = section ? [section] : state.sections;
    var targets = [];
    sectionsWanted.forEach(function (s) {
      s.targets.forEach(function (t) {
        if (t.listed && !t.spec && (!fields || fields.indexOf(t.field) >= 0)) { targets.push(s.table + "." + t.field); }
      });
    });
    if (!targets.length) { announce("Every listed field is mapped: nothing to suggest."); return Promise.resolve(); }
    return api("POST", "/api/mappings/suggest", { flow: state.flow, document: state.document, targets: targets })
      .then(function (answer) {
        if (answer.status === 404 || answer.status === 405) { say("Suggestions unavailable on this installation.", true); return; }
        if (!answer.ok) { say("Suggestions unavailable: " + (answer.data.error || answer.status), true); return; }
        (answer.data.suggestions || []).forEach(function (found) {
          var parts = String(found.target).split(".");
          var field = parts.pop(), table = parts.join(".");
          state.sections.forEach(function (s) {
            if (s.table === table && targetOf(s.section, field)) {
              state.suggestions[s.section + "." + field] = (found.candidates || []).slice(0, 3);
            }
          });
        });
        renderTargets();
        announce("Suggestions shown under " + targets.length + " field(s).");
      });
  }

  function suggestionRow(section, target, candidates) {
    var key = section.section + "." + target.field;
    var list = el("ul", { "class": "suggestions", "aria-label": "Suggestions for " + target.field });
    if (!candidates.length) { list.appendChild(el("li", { "class": "muted", text: "No candidate found." })); }
    candidates.forEach(function (candidate, index) {
      var confidence = Math.round((candidate.confidence || 0) * 100);
      list.appendChild(el("li", { "class": "suggestion" }, [
        el("code", { text: candidate.source }),
        candidate.transform ? el("span", { "class": "small", text: " then " + candidate.transform }) : null,
        el("span", { "class": "badge " + (candidate.level || "low"), text: " " + (candidate.level || "") + " " + confidence + "%" }),
        el("span", { "class": "small muted", text: " " + (candidate.reasons || []).join("; ") }), " ",
        el("button", { type: "button", "class": "small", "aria-label": "Accept " + candidate.source + " for " + target.field,
          text: "Accept", onclick: function () { acceptSuggestion(section, target, candidate); } }), " ",
        el("button", { type: "button", "class": "small secondary", "aria-label": "Reject " + candidate.source + " for " + target.field,
          text: "Reject", onclick: function () {
            feedback(target, section, candidate, false);
            candidates.splice(index, 1);
            renderTargets();
          } })
      ]));
    });
    return el("tr", { "class": "suggestion-row", "data-key": key }, [el("td", { colspan: "7" }, [list])]);
  }

  function acceptSuggestion(section, target, candidate) {
    delete state.suggestions[section.section + "." + target.field];
    var spec = { from: expressionFor(section, candidate.source) };
    if (candidate.transform) { spec.transforms = [{ name: candidate.transform }]; }
    feedback(target, section, candidate, true);
    return change(section, target, spec).then(function () { announce("Accepted " + candidate.source + " for " + target.field); });
  }

  function feedback(target, section, candidate, accepted) {
    api("POST", "/api/mappings/suggest/feedback", { flow: state.flow, document: state.document,
      target: section.table + "." + target.field, source: candidate.source, accepted: accepted });
  }

  // -- publish, history, restore ---------------------------------------------------------------------------
  function showDiff() {
    return api("POST", "/api/designer/" + state.flow + "/" + state.document + "/diff", { yaml: state.yaml }).then(function (answer) {
      var box = $("diff");
      box.hidden = false;
      if (!answer.ok) { box.textContent = answer.data.error || ""; return; }
      box.textContent = answer.data.changed ? answer.data.diff : "The draft is the live version: nothing to publish.";
      var problems = $("diff-problems");
      problems.textContent = "";
      answer.data.problems.forEach(function (text) { problems.appendChild(el("li", { "class": "error", text: text })); });
      if (answer.data.version !== state.baseVersion) {
        warn("Version " + answer.data.version + " was published by someone else since you loaded version " +
          state.baseVersion + ". Publishing would be refused; reload the live version and apply your change again.");
      }
    });
  }

  function publish() {
    var comment = $("publish-comment").value.trim();
    if (!comment) { say("A comment is required: say what the change is for.", true); $("publish-comment").focus(); return; }
    var url = "/api/mappings/" + state.flow + "/" + state.document + "/publish";
    return api("POST", url, { yaml: state.yaml, comment: comment, base_version: state.baseVersion }).then(function (answer) {
      if (answer.status === 201) {
        state.baseVersion = answer.data.version; state.liveYaml = state.yaml;
        Object.keys(state.live).forEach(function (k) { delete state.live[k]; });
        state.sections.forEach(function (s) { s.targets.forEach(function (t) { state.live[s.section + "." + t.field] = clone(t.spec); }); });
        $("publish-comment").value = "";
        $("version-note").textContent = "Live version " + answer.data.version + " (" + answer.data.who + ")";
        warn(""); say("Published version " + answer.data.version + ". The next event of the flow posts with it.");
        renderTargets(); loadHistory();
        return;
      }
      if (answer.status === 409 && answer.data.current) {
        warn("Not published: someone else published version " + answer.data.current + " of this mapping while you " +
          "were editing version " + state.baseVersion + ". Your draft is kept; reload the live version and apply your change again.");
        loadHistory();
        return;
      }
      var problems = answer.data.errors ? " " + answer.data.errors.join(" · ") : "";
      say("Not published: " + (answer.data.error || answer.status) + problems, true);
    });
  }

  function loadHistory() {
    return api("GET", "/api/mappings").then(function (answer) {
      var body = document.querySelector("#history tbody");
      body.textContent = "";
      if (!answer.ok) { return; }
      var entry = answer.data.mappings.filter(function (m) { return m.flow === state.flow && m.document === state.document; })[0];
      if (!entry) { return; }
      entry.versions.slice().reverse().forEach(function (version) {
        var current = version.version === entry.current;
        body.appendChild(el("tr", { "data-version": String(version.version) }, [
          el("td", { text: String(version.version) + (current ? " (live)" : "") }),
          el("td", { text: version.who }),
          el("td", { text: version.at ? new Date(version.at * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "as deployed" }),
          el("td", { text: version.comment }),
          el("td", {}, [current ? null : el("button", { type: "button", "class": "small restore",
            "aria-label": "Restore version " + version.version, text: "Restore",
            onclick: function () { restore(version.version, entry.current); } })])
        ]));
      });
    });
  }

  function restore(number, current) {
    var comment = $("restore-comment").value.trim();
    if (!comment) { say("Say why you restore version " + number + " (comment for a restore).", true); $("restore-comment").focus(); return; }
    var url = "/api/mappings/" + state.flow + "/" + state.document + "/restore";
    api("POST", url, { version: number, comment: comment, base_version: current }).then(function (answer) {
      if (answer.status === 201) {
        $("restore-comment").value = "";
        loadDocument().then(function () { say("Restored version " + number + " as version " + answer.data.version + "."); });
        return;
      }
      if (answer.status === 409 && answer.data.current) {
        warn("Not restored: version " + answer.data.current + " was published meanwhile. Check the versions and try again.");
        loadHistory();
        return;
      }
      say("Not restored: " + (answer.data.error || answer.status), true);
    });
  }

  function renderYaml() { $("draft-yaml").textContent = state.yaml; }

  function renderAddField() {
    var select = $("add-field");
    select.textContent = "";
    select.appendChild(el("option", { value: "", text: "choose…" }));
    state.sections.forEach(function (section) {
      var group = el("optgroup", { label: section.table + " (" + section.section + ")" });
      section.targets.forEach(function (target) {
        if (!target.listed) {
          group.appendChild(el("option", { value: section.section + "." + target.field,
            text: target.field + " · " + target.type + (target.length ? " (" + target.length + ")" : "") }));
        }
      });
      select.appendChild(group);
    });
  }

  function addField() {
    var value = $("add-field").value;
    if (!value) { return; }
    var parts = value.split(".");
    var target = targetOf(parts[0], parts[1]);
    if (!target) { return; }
    target.listed = true;
    renderTargets(); renderAddField();
    var row = $(rowId(parts[0], parts[1]));
    if (row) { row.querySelector(".map-here").focus(); }
    announce(parts[1] + " added to the rows; map a source to it.");
  }

  // -- wiring -------------------------------------------------------------------------------------------------
  function chooseFlow() {
    var flows = JSON.parse(root.getAttribute("data-flows") || "{}");
    state.flow = $("flow").value;
    var select = $("document");
    select.textContent = "";
    (flows[state.flow] || []).forEach(function (name) { select.appendChild(el("option", { value: name, text: name })); });
    state.document = select.value;
    state.sample = ""; root.setAttribute("data-event", "");
    return loadDocument();
  }

  document.addEventListener("DOMContentLoaded", function () {
    root = $("designer");
    if (!root) { return; }
    state.pair = root.getAttribute("data-pair") || "default";
    state.flow = root.getAttribute("data-flow");
    state.document = root.getAttribute("data-document");
    if ($("pair")) {
      $("pair").addEventListener("change", function () {  // another pair's mappings: load the page for it
        window.location.assign("/console/mappings?pair=" + encodeURIComponent($("pair").value) +
          "&flow=" + encodeURIComponent(state.flow) + "&document=" + encodeURIComponent(state.document));
      });
    }
    $("flow").addEventListener("change", chooseFlow);
    $("document").addEventListener("change", function () { state.document = $("document").value; loadDocument(); });
    $("sample").addEventListener("change", function () {
      state.sample = $("sample").value;
      loadSources().then(refresh);
    });
    $("source-search").addEventListener("input", renderSources);
    $("suggest-all").addEventListener("click", function () { suggest(null, null); });
    $("add-field-go").addEventListener("click", addField);
    $("show-diff").addEventListener("click", showDiff);
    $("publish").addEventListener("click", publish);
    $("retry-event").addEventListener("click", retryEvent);
    $("discard-draft").addEventListener("click", function () { loadDocument().then(function () { say("Draft discarded: the live version is loaded."); }); });
    if (state.flow && state.document) { loadDocument(); }
  });
}());
