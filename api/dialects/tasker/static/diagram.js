// taskq task diagram page: draws the Mermaid source held (as text) in
// #diagram-source into #diagram. Served by taskq with mermaid.min.js, so the
// page's Content-Security-Policy can keep script-src to 'self'.
"use strict";
(function () {
  const source = document.getElementById("diagram-source");
  const target = document.getElementById("diagram");
  if (!source || !target || typeof mermaid === "undefined") {
    return;
  }
  // strict: labels are sanitised and click links may not run script
  mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default" });
  mermaid.render("task-diagram-svg", source.textContent).then(function (out) {
    target.innerHTML = out.svg;
    if (out.bindFunctions) {
      out.bindFunctions(target);
    }
    target.setAttribute("data-rendered", "true");
  }, function (err) {
    target.textContent = "The diagram could not be drawn: " + (err && err.message ? err.message : err);
    target.setAttribute("data-rendered", "error");
  });
})();
