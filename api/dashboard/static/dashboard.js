// taskq dashboard: keeps a page live without reloading it.
// - Every 2 s it fetches the page's JSON (body[data-poll]) and swaps each
//   [data-region] for the HTML the server rendered for it (skipped while
//   the region holds the focus or is unchanged).
// - Action forms ([data-action]) are sent with fetch and the CSRF token;
//   data-confirm asks first. The answer's message shows in #flash.
// - The workflow page draws #diagram-source with Mermaid when it changes.
// No inline script anywhere, so the pages' CSP keeps script-src 'self'.
"use strict";
(function () {
  const POLL_MS = 2000;
  const body = document.body;
  const pollUrl = body.getAttribute("data-poll");
  const liveStatus = document.getElementById("live-status");
  let timer = null;
  let drawn = "";

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
      if (!el || el.contains(document.activeElement) || el.innerHTML === regions[name]) { return; }
      el.innerHTML = regions[name];
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

  window.addEventListener("load", drawDiagram);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { poll(); } });
  timer = setTimeout(poll, POLL_MS);
})();
