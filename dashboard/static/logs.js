// Berth dashboard: the app page's live logs. No build step, no library:
// an EventSource on the page's stream, a line per event, the search box
// hides the lines that do not contain its text. Each (re)connection
// starts with the app's last lines, so the view starts over then.
"use strict";
(function () {
  var view = document.getElementById("logs");
  if (!view || !window.EventSource) return;
  var search = document.getElementById("logs-search");
  var status = document.getElementById("logs-status");
  var max = 2000; // lines kept in the page
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
  es.addEventListener("failed", function (e) {
    status.textContent = e.data;
    es.close();
  });
  es.onerror = function () {
    if (es.readyState !== EventSource.CLOSED) status.textContent = "reconnecting…";
  };
})();
