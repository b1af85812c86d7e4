// Berth dashboard: the app page's live views (the container logs, the
// deploy log). No build step, no library: an EventSource on each view's
// stream, a line per event; the search box hides the lines that do not
// contain its text. Each (re)connection starts over (the stream sends the
// last lines, or the whole build log, again). A "done" or "failed" event
// ends a view.
"use strict";
(function () {
  var max = 2000; // lines kept per view
  function live(view, status, search) {
    if (!view || !window.EventSource) return;
    function shows(line) {
      var q = search ? search.value.toLowerCase() : "";
      return q === "" || line.textContent.toLowerCase().indexOf(q) >= 0;
    }
    function add(text) {
      var atEnd = view.scrollTop + view.clientHeight >= view.scrollHeight - 4;
      var line = document.createElement("div");
      line.textContent = text;
      line.hidden = !shows(line);
      view.appendChild(line);
      while (view.childNodes.length > max) view.removeChild(view.firstChild);
      if (atEnd) view.scrollTop = view.scrollHeight;
    }
    if (search) {
      search.addEventListener("input", function () {
        for (var l = view.firstChild; l; l = l.nextSibling) l.hidden = !shows(l);
      });
    }
    var es = new EventSource(view.getAttribute("data-src"));
    es.onopen = function () {
      view.textContent = "";
      status.textContent = "live";
    };
    es.onmessage = function (e) { add(e.data); };
    function end(e) {
      status.textContent = e.data;
      es.close();
    }
    es.addEventListener("done", end);
    es.addEventListener("failed", end);
    es.onerror = function () {
      if (es.readyState !== EventSource.CLOSED) status.textContent = "reconnecting…";
    };
  }
  live(document.getElementById("logs"), document.getElementById("logs-status"), document.getElementById("logs-search"));
  live(document.getElementById("deploy-log"), document.getElementById("deploy-log-status"), null);
})();
