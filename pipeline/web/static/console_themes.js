// The console's themes: each alert's themes with a control to change them, and each venue's
// top themes of the last hour with their trend. The markup mirrors
// pipeline/web/console_themes.py: keep the two in step. console.js calls ProntoThemes.control.
(function () {
  "use strict";
  var data = null; // {choices: location -> theme ids, words: theme id -> word}, from the page

  function init() {
    if (data) return;
    data = { choices: {}, words: {} };
    var panel = document.querySelector(".top-themes");
    try { if (panel) data = JSON.parse(panel.dataset.themes || "{}"); } catch (e) { /* none */ }
    data.choices = data.choices || {}; data.words = data.words || {};
  }
  var ARROWS = { up: "↑", down: "↓", steady: "→" };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function word(t) { return data.words[t] || String(t).replace(/_/g, " "); }
  function names(list) { return (list || []).map(word).join(", ") || "–"; }

  // The alert's themes and the form that changes them (console.js posts it by fetch).
  function control(a, csrf) {
    init();
    var p = el("p", "themes");
    p.appendChild(el("span", "themes-label", "Themes:"));
    p.appendChild(document.createTextNode(" "));
    p.appendChild(el("span", "themes-list", names((a.themes || []).slice().sort())));
    var nodes = [p];
    var choices = data.choices[a.location_id] || [];
    if (!choices.length) return nodes;
    var det = el("details", "themes-edit");
    det.appendChild(el("summary", "", "Change themes"));
    var f = el("form", "act themes-form");
    f.method = "post";
    f.action = "/api/v1/alerts/" + encodeURIComponent(a.ref) + "/themes";
    var hidden = el("input");
    hidden.type = "hidden"; hidden.name = "csrf"; hidden.value = csrf;
    f.appendChild(hidden);
    choices.forEach(function (t) {
      var label = el("label", "theme-choice"), box = el("input");
      box.type = "checkbox"; box.name = "theme"; box.value = t;
      box.checked = (a.themes || []).indexOf(t) >= 0;
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + word(t)));
      f.appendChild(label);
    });
    var b = el("button", "btn-themes", "Save themes");
    b.type = "submit";
    f.appendChild(b);
    det.appendChild(f);
    nodes.push(det);
    return nodes;
  }

  function renderTop(doc) {
    var box = document.getElementById("themes-top");
    if (!box) return;
    var frag = document.createDocumentFragment();
    var locs = (doc && doc.locations) || {};
    Object.keys(locs).filter(function (id) { return id in data.choices; }).forEach(function (id) {
      var l = locs[id], top = l.top || [];
      var sec = el("section", "loc-themes");
      sec.dataset.location = id;
      sec.appendChild(el("h3", "", l.name || id));
      if (!top.length) { sec.appendChild(el("p", "stale", "No themes this hour.")); }
      var ol = el("ol", "theme-top");
      top.forEach(function (t) {
        var li = el("li", "theme-row");
        li.dataset.theme = t.theme;
        li.appendChild(el("span", "theme-name", word(t.theme)));
        li.appendChild(el("span", "theme-n", t.n + (t.negative ? " (" + t.negative + " negative)" : "")));
        if (t.trend) li.appendChild(el("span", "trend " + t.trend, ARROWS[t.trend] || ""));
        ol.appendChild(li);
      });
      if (top.length) sec.appendChild(ol);
      frag.appendChild(sec);
    });
    if (!frag.childNodes.length) frag.appendChild(el("p", "stale", "No themes yet."));
    box.replaceChildren(frag);
  }

  function loadTop() {
    if (document.hidden) { setTimeout(loadTop, 10000); return; }
    fetch("/api/v1/themes", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) renderTop(d); })
      .catch(function () { /* keep the last list */ })
      .then(function () { setTimeout(loadTop, 10000); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    init();
    if (document.querySelector(".top-themes")) loadTop();
  });
  window.ProntoThemes = { control: control, load: loadTop };
})();
