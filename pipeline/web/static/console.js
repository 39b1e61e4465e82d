// The live console: alert cards over server-sent events, timers, actions by fetch, scores.
// The page works without this script (plain form posts and a meta refresh); this makes it live.
// The card markup mirrors pipeline/web/console_page.py: keep the two in step.
(function () {
  "use strict";
  var body = document.body;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var promise = parseFloat(body.dataset.promise || "60");
  var skew = parseFloat(body.dataset.now || "0") * 1000 - Date.now(); // server minus client
  var names = JSON.parse(body.dataset.locations || "{}");
  var list = document.getElementById("alerts");
  var CLOSED = { resolved: 1, followed_up: 1, expired: 1 };
  var LABELS = {
    opened: "New", paged: "Paged", escalated: "Escalated", acknowledged: "Acknowledged",
    dismissed: "Not a complaint", resolved: "Resolved", followed_up: "Followed up", expired: "Expired"
  };
  var ACTIONS = [["ack", "Ack"], ["resolve", "Resolve"], ["not-complaint", "Not a complaint"]];
  var alerts = {}; // ref -> alert
  var title = document.title;

  function now() { return (Date.now() + skew) / 1000; }

  function age(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fact(dl, label, value, cls) {
    var d = el("div");
    d.appendChild(el("dt", "", label));
    d.appendChild(el("dd", cls || "", value));
    dl.appendChild(d);
  }

  function setTimer(span, a) {
    if (a.acked_at) {
      var took = a.acked_at - a.opened_at;
      span.textContent = "acked in " + age(took);
      span.className = "timer " + (took > promise ? "late" : "kept");
    } else {
      var t = now() - a.opened_at;
      span.textContent = age(t);
      span.className = "timer" + (t > promise ? " late" : "");
    }
  }

  function card(a) {
    var li = el("li", "alert st-" + a.state + (a.urgent ? " urgent" : ""));
    li.id = "alert-" + a.ref;
    li.dataset.ref = a.ref;
    var head = el("div", "head");
    var timer = el("span", "timer");
    timer.setAttribute("role", "timer");
    setTimer(timer, a);
    head.appendChild(timer);
    head.appendChild(el("span", "badge", LABELS[a.state] || a.state));
    if (a.urgent) head.appendChild(el("span", "badge urgent", "Urgent"));
    head.appendChild(el("span", "loc", a.location || names[a.location_id] || a.location_id));
    head.appendChild(el("span", "ref", "#" + a.ref));
    if (a.feedback_ref) head.appendChild(el("span", "ref fref", a.feedback_ref));
    li.appendChild(head);
    li.appendChild(a.text ? el("p", "text", a.text) : el("p", "text none", "(no comment)"));
    var dl = el("dl", "facts");
    if (a.score !== null && a.score !== undefined) {
      fact(dl, "Score", a.score + "/" + (a.scale === "nps10" ? 10 : 5));
    }
    if (a.p_negative !== null && a.p_negative !== undefined) {
      fact(dl, "Sentiment", Math.round(100 * a.p_negative) + "% negative", a.p_negative >= 0.5 ? "neg" : "");
    }
    fact(dl, "Reason", a.reason || "");
    if (a.acked_by) fact(dl, "Acked by", a.acked_by);
    li.appendChild(dl);
    var actions = el("div", "actions");
    var verbs = a.state === "dismissed" ? [["was-complaint", "It was a complaint"]] :
      ACTIONS.filter(function (x) { return !(x[0] === "ack" && a.state === "acknowledged"); });
    verbs.forEach(function (v) {
      var f = el("form", "act");
      f.method = "post";
      f.action = "/api/v1/alerts/" + encodeURIComponent(a.ref) + "/" + v[0];
      var hidden = el("input");
      hidden.type = "hidden"; hidden.name = "csrf"; hidden.value = csrf;
      f.appendChild(hidden);
      var b = el("button", "btn-" + v[0], v[1]);
      b.type = "submit";
      f.appendChild(b);
      actions.appendChild(f);
    });
    li.appendChild(actions);
    if (window.ProntoThemes) ProntoThemes.control(a, csrf).forEach(function (n) { li.appendChild(n); });
    return li;
  }

  function listed(a) {
    if (CLOSED[a.state]) return false;
    return a.state !== "dismissed" || now() - (a.updated_at || a.opened_at) < 3600;
  }

  function order(a, b) {
    function key(x) { return [x.urgent ? 0 : 1, x.state === "dismissed" ? 1 : 0, x.state === "acknowledged" ? 1 : 0]; }
    var ka = key(a), kb = key(b);
    for (var i = 0; i < 3; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
    return a.opened_at - b.opened_at;
  }

  function render(freshRef) {
    var shown = Object.keys(alerts).map(function (r) { return alerts[r]; }).filter(listed).sort(order);
    var focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest("li.alert") : null;
    var focusRef = focused ? focused.dataset.ref : null;
    var focusVerb = focusRef && document.activeElement.className;
    var frag = document.createDocumentFragment();
    shown.forEach(function (a) {
      var li = card(a);
      if (a.ref === freshRef) li.classList.add("fresh");
      frag.appendChild(li);
    });
    list.replaceChildren(frag);
    if (focusRef) { // keep keyboard users where they were
      var again = document.querySelector("#alert-" + CSS.escape(focusRef) + " ." + CSS.escape(focusVerb || "x"));
      if (again) again.focus();
    }
    document.getElementById("count").textContent = shown.length;
    document.getElementById("empty").hidden = shown.length > 0;
    var waiting = shown.filter(function (a) { return !a.acked_at && a.state !== "dismissed"; }).length;
    document.title = (waiting ? "(" + waiting + ") " : "") + title;
  }

  function tick() {
    Array.prototype.forEach.call(list.querySelectorAll("li.alert"), function (li) {
      var a = alerts[li.dataset.ref];
      var t = li.querySelector(".timer");
      if (a && t) setTimer(t, a);
    });
  }

  var toastTimer = null;
  function toast(msg, bad) {
    var t = document.getElementById("toast");
    t.textContent = msg;
    t.className = "toast show" + (bad ? " err" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.className = "toast"; }, 3000);
  }

  function loadAlerts() {
    return fetch("/api/v1/alerts", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) { location.href = "/login"; throw new Error("logged out"); }
        return r.json();
      })
      .then(function (rows) {
        alerts = {};
        rows.forEach(function (a) { alerts[a.ref] = a; });
        render(null);
      })
      .catch(function () { /* the stream reconnects and reloads */ });
  }

  list.addEventListener("submit", function (e) {
    var f = e.target;
    if (!f.classList || !f.classList.contains("act")) return;
    e.preventDefault();
    var b = f.querySelector("button");
    b.disabled = true;
    fetch(f.action, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
      body: f.classList.contains("themes-form") ? new FormData(f) : undefined
    }).then(function (r) {
      if (r.status === 401) { location.href = "/login"; return; }
      return r.json().then(function (d) {
        if (r.ok) toast("Sent: " + b.textContent + " #" + d.ref);
        else { toast(d.error || "Failed (" + r.status + ")", true); b.disabled = false; }
      });
    }).catch(function () { toast("Network error: not sent", true); b.disabled = false; });
  });

  // Scores: every 5 s, and soon after an alert event, never two requests at once.
  var scoresBusy = false, scoresLast = 0, scoresTimer = null;
  function pct(x) { return x === null || x === undefined ? "–" : Math.round(100 * x) + "%"; }
  function num(x) { return x === null || x === undefined ? "–" : Math.round(x); }
  function renderScores(data) {
    var box = document.getElementById("scores");
    var frag = document.createDocumentFragment();
    var locs = (data && data.locations) || {};
    Object.keys(locs).filter(function (id) { return id in names; }).forEach(function (id) {
      var l = locs[id];
      var sec = el("section", "loc-score");
      sec.appendChild(el("h3", "", l.name || names[id]));
      var table = el("table"), thead = el("thead"), hr = el("tr");
      ["Window", "CSAT", "NPS", "Answers"].forEach(function (h) { hr.appendChild(el("th", "", h)); });
      thead.appendChild(hr); table.appendChild(thead);
      var tb = el("tbody");
      Object.keys(l.windows || {}).forEach(function (w) {
        var s = l.windows[w], tr = el("tr");
        tr.appendChild(el("td", "", w));
        var c = el("td", "big", pct(s.csat));
        if (s.csat !== null && s.csat !== undefined) c.appendChild(el("span", "ci", pct(s.csat_low) + "–" + pct(s.csat_high) + " · n=" + s.csat_n));
        tr.appendChild(c);
        var n = el("td", "big", num(s.nps));
        if (s.nps !== null && s.nps !== undefined) n.appendChild(el("span", "ci", num(s.nps_low) + "…" + num(s.nps_high) + " · n=" + s.nps_n));
        tr.appendChild(n);
        tr.appendChild(el("td", "", s.n));
        tb.appendChild(tr);
      });
      table.appendChild(tb); sec.appendChild(table); frag.appendChild(sec);
    });
    if (!frag.childNodes.length) frag.appendChild(el("p", "stale", "No scores yet."));
    box.replaceChildren(frag);
  }
  function loadScores() {
    clearTimeout(scoresTimer);
    if (scoresBusy) return;
    if (document.hidden) { scoresTimer = setTimeout(loadScores, 5000); return; }
    scoresBusy = true; scoresLast = Date.now();
    fetch("/api/v1/scores", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) renderScores(d); })
      .catch(function () { /* keep the last numbers */ })
      .then(function () { scoresBusy = false; scoresTimer = setTimeout(loadScores, 5000); });
  }
  function scoresSoon() { // at most one refresh a second, however many events arrive
    if (scoresBusy) return;
    clearTimeout(scoresTimer);
    scoresTimer = setTimeout(loadScores, Math.max(0, 1000 - (Date.now() - scoresLast)));
  }

  var liveEl = document.getElementById("live");
  function live(on) { liveEl.textContent = on ? "live" : "offline"; liveEl.className = "live " + (on ? "on" : "off"); }

  function connect() {
    if (!window.EventSource) { setInterval(loadAlerts, 10000); return; }
    var es = new EventSource("/api/v1/alerts/stream");
    es.addEventListener("hello", function (e) {
      try { skew = JSON.parse(e.data).now * 1000 - Date.now(); } catch (err) { /* keep the old skew */ }
      live(true);
      loadAlerts(); // events missed while disconnected
    });
    es.addEventListener("alert", function (e) {
      var d = JSON.parse(e.data), a = d.alert;
      var isNew = !alerts[a.ref];
      alerts[a.ref] = a;
      render(a.ref);
      if (isNew && listed(a) && navigator.vibrate) navigator.vibrate(200);
      scoresSoon();
    });
    es.addEventListener("resync", loadAlerts);
    es.onerror = function () { live(false); };
  }

  // Take over from the server-rendered cards.
  loadAlerts();
  connect();
  loadScores();
  setInterval(tick, 1000);
})();
