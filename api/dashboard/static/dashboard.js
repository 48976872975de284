// taskq dashboard: keeps a page live without reloading it.
// - Every 2 s it fetches the page's JSON (body[data-poll]) and swaps each
//   [data-region] for the HTML the server rendered for it (skipped while
//   the region holds the focus or is unchanged).
// - Action forms ([data-action]) are sent with fetch and the CSRF token;
//   data-confirm asks first. The answer's message shows in #flash.
// - The workflow page draws #diagram-source with Mermaid when it changes.
// - "Times: UTC | Local" in the header (kept in localStorage): with Local,
//   each <time datetime> (and a chart bar's title[data-at]) is rewritten in
//   the browser's zone, on load and in every swapped region; the title
//   attribute keeps the stored UTC instant. UTC is what the server renders.
// No inline script anywhere, so the pages' CSP keeps script-src 'self'.
"use strict";
(function () {
  const POLL_MS = 2000;
  const body = document.body;
  const pollUrl = body.getAttribute("data-poll");
  const liveStatus = document.getElementById("live-status");
  let timer = null;
  let drawn = "";
  const shown = {};  // region name -> the server's HTML last put there

  // -- times: UTC (as rendered) or the browser's zone --------------------------
  const TIMES_KEY = "taskq.dashboard.times";
  let localFormat = null;
  let times = "utc";  // or "local"
  try { times = window.localStorage.getItem(TIMES_KEY) || times; } catch (e) { /* no storage: UTC */ }

  function wantLocal() { return times === "local"; }

  function zoneName() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }

  // [date "YYYY-MM-DD HH:MM:SS", zone label] of an ISO UTC instant.
  function inZone(iso, local) {
    const at = new Date(iso);
    if (!local || isNaN(at.getTime())) { return [iso.slice(0, 19).replace("T", " "), "UTC"]; }
    localFormat = localFormat || new Intl.DateTimeFormat("en-US", {
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hourCycle: "h23", timeZoneName: "short" });
    const p = {};
    localFormat.formatToParts(at).forEach(function (part) { p[part.type] = part.value; });
    const zone = (p.timeZoneName || "").replace(/^GMT(?=[+\-\u2212])/, "UTC");  // "GMT+2" -> "UTC+2"
    return [("000" + p.year).slice(-4) + "-" + p.month + "-" + p.day + " " +
            p.hour + ":" + p.minute + ":" + p.second, zone || "UTC"];
  }

  function showTimes(root) {
    const local = wantLocal();
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      const iso = el.getAttribute("datetime");
      const text = inZone(iso, local);
      const tz = document.createElement("span");
      tz.className = "tz";
      tz.textContent = " " + text[1];
      el.replaceChildren(text[0], tz);
      el.title = iso;
    });
    root.querySelectorAll("title[data-at]").forEach(function (el) {
      const text = inZone(el.getAttribute("data-at"), local);
      el.textContent = text[0].slice(11, 16) + " " + text[1] + (el.getAttribute("data-tail") || "");
    });
  }

  function timesChoice() {
    const box = document.getElementById("times-choice");
    if (!box) { return; }
    const local = wantLocal();
    const zone = zoneName();
    box.querySelectorAll("button[data-times]").forEach(function (b) {
      const isLocal = b.getAttribute("data-times") === "local";
      if (isLocal) { b.textContent = zone ? "Local (" + zone + ")" : "Local"; }
      b.setAttribute("aria-pressed", String(isLocal === local));
    });
    box.hidden = false;
  }

  document.addEventListener("click", function (event) {
    const b = event.target.closest && event.target.closest("#times-choice button[data-times]");
    if (!b) { return; }
    times = b.getAttribute("data-times");
    try { window.localStorage.setItem(TIMES_KEY, times); } catch (e) { /* this page only */ }
    timesChoice();
    showTimes(document);
  });
  window.addEventListener("storage", function (event) {
    if (event.key === TIMES_KEY) { times = event.newValue || "utc"; timesChoice(); showTimes(document); }
  });

  function flash(message, isError) {
    const el = document.getElementById("flash");
    if (!el) { return; }
    el.textContent = message;
    el.hidden = !message;
    el.classList.toggle("flash-error", !!isError);
  }

  function toLogin() {
    window.location.assign("/dashboard/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
  }

  function swap(regions) {
    Object.keys(regions || {}).forEach(function (name) {
      const el = document.querySelector('[data-region="' + name + '"]');
      const html = regions[name];
      if (!el || el.contains(document.activeElement)) { return; }
      // compared with the HTML last put there: the shown one may have local times
      if (shown[name] === undefined && el.innerHTML === html) { shown[name] = html; }
      if (html === shown[name]) { return; }
      el.innerHTML = html;
      shown[name] = html;
      showTimes(el);
    });
    drawDiagram();
  }

  function poll() {
    if (!pollUrl) { return; }
    clearTimeout(timer);
    if (document.hidden) { timer = setTimeout(poll, POLL_MS); return; }
    fetch(pollUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (resp.status === 401) { toLogin(); return null; }
        if (!resp.ok) { throw new Error("HTTP " + resp.status); }
        return resp.json();
      })
      .then(function (data) {
        if (!data) { return; }
        swap(data.regions);
        body.setAttribute("data-updated", String(Date.now()));
        if (liveStatus) { liveStatus.textContent = "live · refreshes every 2 s"; liveStatus.classList.remove("stale"); }
      })
      .catch(function (err) {
        if (liveStatus) { liveStatus.textContent = "not refreshing (" + err.message + "), retrying"; liveStatus.classList.add("stale"); }
      })
      .finally(function () { timer = setTimeout(poll, POLL_MS); });
  }

  function csrfToken() {
    return (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  }

  function send(form) {
    const data = new FormData(form);
    return fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
    }).then(function (resp) {
      if (resp.status === 401) { toLogin(); return; }
      return resp.json().then(function (answer) {
        if (!resp.ok) {
          const err = answer && answer.error;
          flash((err && (err.message || err)) || ("HTTP " + resp.status), true);
          return;
        }
        if (answer.location) { window.location.assign(answer.location); return; }
        flash(answer.message || "done", false);
        poll();
      });
    }).catch(function (err) { flash("The action was not sent: " + err.message, true); });
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.hasAttribute("data-action")) { return; }
    event.preventDefault();
    const question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { return; }
    const button = form.querySelector("button");
    if (button) { button.disabled = true; }
    send(form).finally(function () { if (button) { button.disabled = false; } });
  });

  function drawDiagram() {
    const source = document.getElementById("diagram-source");
    const target = document.getElementById("diagram");
    if (!source || !target || typeof window.mermaid === "undefined") { return; }
    const text = source.textContent;
    if (text === drawn) { return; }
    drawn = text;
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default" });
    window.mermaid.render("workflow-diagram-svg-" + Date.now(), text).then(function (out) {
      target.innerHTML = out.svg;
      target.setAttribute("data-rendered", "true");
    }, function (err) {
      target.textContent = "The diagram could not be drawn: " + (err && err.message ? err.message : err);
      target.setAttribute("data-rendered", "error");
    });
  }

  timesChoice();
  if (wantLocal()) { showTimes(document); }
  window.addEventListener("load", drawDiagram);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { poll(); } });
  timer = setTimeout(poll, POLL_MS);
})();
