// trigr dashboard: live updates over server-sent events, no framework.
// An element with data-live="name" is replaced by the server's newer rendering of that part
// of the page (event "part": {"name": ..., "html": ...}), unless the keyboard focus is inside
// it (a form being filled in is never thrown away).
(function () {
  "use strict";
  var source = document.body.getAttribute("data-live-source");
  if (!source || !window.EventSource) return;
  var dot = document.getElementById("live-dot");
  var stream = new EventSource(source);
  stream.addEventListener("open", function () { if (dot) dot.classList.add("on"); });
  stream.addEventListener("error", function () { if (dot) dot.classList.remove("on"); });
  stream.addEventListener("part", function (event) {
    var part;
    try { part = JSON.parse(event.data); } catch (e) { return; }
    var target = document.querySelector('[data-live="' + part.name + '"]');
    if (!target) return;
    if (target.contains(document.activeElement) && document.activeElement !== document.body) return;
    target.innerHTML = part.html;
    // Forms in a live part are rendered without the session's CSRF value: copy the page's.
    var csrf = document.querySelector('input[name="csrf"]:not([data-csrf])');
    if (csrf) {
      target.querySelectorAll("input[data-csrf]").forEach(function (input) { input.value = csrf.value; });
    }
  });
})();
