// apkfarm status site: optional enhancements. Every page reads without
// this script; with it, times read as "3 h ago", the matrix filters, the
// overview warns when runs stopped and shows what is building now.
(function () {
  "use strict";

  function ago(ms) {
    var s = Math.round(ms / 1000);
    if (s < 0) return "in the future";
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400 * 2) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }

  function span(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400 * 2) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " days";
  }

  // Times: the title says how long ago (the text stays exact, in UTC).
  function relTimes(root) {
    var now = Date.now();
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = Date.parse(t.getAttribute("datetime"));
      if (!isNaN(d)) t.title = ago(now - d) + " (" + new Date(d).toLocaleString() + ")";
    });
  }

  // The stale warning: judged again with this browser's clock, since a
  // site nobody renders any more cannot say so itself.
  function stale() {
    var el = document.getElementById("stale");
    if (!el) return;
    var after = Number(el.getAttribute("data-after")) * 1000;
    var last = Date.parse(el.getAttribute("data-last") || "");
    if (!after || isNaN(last)) return;
    var age = Date.now() - last;
    if (age > after) {
      var a = el.querySelector(".age");
      if (a) a.textContent = span(age);
      el.hidden = false;
    }
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // "Building now", from live.js (window.apkfarmLive).
  function live() {
    var body = document.getElementById("live-body");
    if (!body || !("apkfarmLive" in window)) return;
    var l = window.apkfarmLive;
    var root = "";
    body.textContent = "";
    if (!l) {
      body.appendChild(el("p", { "class": "muted" }, "No run is under way."));
      return;
    }
    var p = el("p");
    p.appendChild(document.createTextNode("Run " + l.run_id));
    p.appendChild(document.createTextNode(" · " + (l.trigger && l.trigger.kind || "") + " · stage "));
    p.appendChild(el("strong", {}, l.stage));
    p.appendChild(document.createTextNode(" · " + l.done + " of " + l.total + " builds done"));
    body.appendChild(p);
    var meter = el("div", { "class": "meter", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(l.total), "aria-valuenow": String(l.done) });
    var fill = el("span");
    fill.style.width = (l.total ? 100 * l.done / l.total : 0) + "%";
    meter.appendChild(fill);
    body.appendChild(meter);
    if (l.building && l.building.length) {
      var ul = el("ul", { "class": "building" });
      var now = Date.now();
      l.building.forEach(function (b) {
        var li = el("li");
        li.appendChild(el("span", { "class": "slot" }, "slot " + b.slot));
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("a", { href: root + b.page }, b.pkgname));
        li.appendChild(document.createTextNode(" " + b.version + " "));
        li.appendChild(el("span", { "class": "muted" }, b.arch + " · for " + span(now - Date.parse(b.start))));
        ul.appendChild(li);
      });
      body.appendChild(ul);
    }
    body.appendChild(el("p", { "class": "muted small" }, "Updated " + ago(Date.now() - Date.parse(l.updated)) + "."));
  }

  // Reload live.js now and then while the page is open (over http; a
  // file:// page shows what it loaded).
  function poll() {
    if (location.protocol === "file:" || !document.getElementById("live-body")) return;
    setInterval(function () {
      var s = document.createElement("script");
      s.src = "live.js?" + Date.now();
      s.onload = function () { live(); s.remove(); };
      s.onerror = function () { s.remove(); };
      document.head.appendChild(s);
    }, 15000);
  }

  // The matrix filter: name (substring, or /regex/), status, arch. The
  // choice is kept in the address (#q=…&s=…&arch=…) so it can be shared.
  function matrix() {
    var table = document.getElementById("matrix");
    var form = document.getElementById("filters");
    if (!table || !form) return;
    form.hidden = false;
    var q = document.getElementById("q"), fs = document.getElementById("fs"), fa = document.getElementById("fa");
    var out = document.getElementById("count"), none = document.getElementById("none");
    var arches = [];
    table.querySelectorAll("thead th").forEach(function (th, i) { if (i > 0) arches.push(th.textContent); });
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var names = rows.map(function (r) { return r.cells[0].textContent; });
    var params = new URLSearchParams(location.hash.slice(1));
    q.value = params.get("q") || "";
    fs.value = params.get("s") || "";
    fa.value = params.get("arch") || "";

    function cellOK(td, s) {
      var c = td.className;
      if (!c) return false;
      if (s === "notok") return c !== "s-built" && c !== "s-up-to-date" && c !== "s-excluded";
      return c === "s-" + s;
    }

    function apply() {
      var text = q.value.trim(), s = fs.value, a = fa.value, re = null;
      if (text.length > 2 && text[0] === "/" && text[text.length - 1] === "/") {
        try { re = new RegExp(text.slice(1, -1), "i"); q.setCustomValidity(""); }
        catch (e) { q.setCustomValidity("not a regular expression"); return; }
      }
      var lower = text.toLowerCase(), col = a ? arches.indexOf(a) + 1 : 0, shown = 0;
      for (var i = 0; i < rows.length; i++) {
        var r = rows[i], ok = true;
        if (text) ok = re ? re.test(names[i]) : names[i].toLowerCase().indexOf(lower) >= 0;
        if (ok && (s || col)) {
          if (col) ok = s ? cellOK(r.cells[col], s) : r.cells[col].className !== "";
          else {
            ok = false;
            for (var j = 1; j < r.cells.length && !ok; j++) ok = cellOK(r.cells[j], s);
          }
        }
        r.hidden = !ok;
        if (ok) shown++;
      }
      out.textContent = shown + " of " + rows.length + " aports";
      none.hidden = shown > 0;
      var p = new URLSearchParams();
      if (text) p.set("q", text);
      if (s) p.set("s", s);
      if (a) p.set("arch", a);
      var h = p.toString();
      history.replaceState(null, "", h ? "#" + h : location.pathname + location.search);
    }
    q.addEventListener("input", apply);
    fs.addEventListener("change", apply);
    fa.addEventListener("change", apply);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    apply();
  }

  function init() {
    relTimes(document);
    stale();
    live();
    poll();
    matrix();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
