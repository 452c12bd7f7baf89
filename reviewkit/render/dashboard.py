"""The dashboard's index page: one row per series, self-contained.

Nothing is loaded from outside the file: the styles are inline, and the only
script — sorting by a column and filtering rows, both optional — is inline
and allowed by its hash in the page's Content-Security-Policy, so no other
script can run even if a subject carried one (every value from the messages
goes through jinja2's autoescaping as well).  With scripts off the table is
complete, newest series first.
"""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

from reviewkit import __version__

SCRIPT = """(function () {
  var table = document.getElementById("series");
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var tools = document.getElementById("tools");
  var input = document.createElement("input");
  input.type = "search";
  input.placeholder = "filter: words in subject, author, Message-ID";
  input.setAttribute("aria-label", "filter the series");
  var flagged = document.createElement("label");
  var box = document.createElement("input");
  box.type = "checkbox";
  flagged.appendChild(box);
  flagged.appendChild(document.createTextNode(" only series with errors or warnings"));
  var shown = document.createElement("span");
  tools.appendChild(input);
  tools.appendChild(flagged);
  tools.appendChild(shown);
  function update() {
    var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var n = 0;
    rows.forEach(function (r) {
      var text = r.textContent.toLowerCase();
      var ok = words.every(function (w) { return text.indexOf(w) >= 0; });
      if (ok && box.checked) {
        ok = Number(r.cells[8].dataset.v) + Number(r.cells[9].dataset.v) > 0;
      }
      r.hidden = !ok;
      if (ok) { n++; }
    });
    shown.textContent = n + " of " + rows.length + " series shown";
  }
  input.addEventListener("input", update);
  box.addEventListener("change", update);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    var kind = th.dataset.sort;
    if (!kind) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    th.textContent = "";
    th.appendChild(button);
    button.addEventListener("click", function () {
      var dir = th.getAttribute("aria-sort") === "descending" ? 1 : -1;
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir < 0 ? "descending" : "ascending");
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        if (kind === "num") { x = Number(x); y = Number(y); }
        return x < y ? -dir : (x > y ? dir : 0);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  update();
})();
"""

SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()


def render(rows, *, pending: int = 0, orphans: int = 0, notes=(),
           template_dir: Path | None = None, stream: bool = False):
    """The page (a string; with ``stream``, its pieces as they are made).  ``rows``: a
    sequence of row dicts, or any object with ``len()`` that is iterated once."""
    from reviewkit.render.templating import environment

    env = environment(template_dir, autoescape=True)
    template = env.get_template("dashboard.html.j2")
    context = dict(rows=rows, pending=pending, orphans=orphans, notes=list(notes),
                   version=__version__,
                   generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   script=SCRIPT, script_hash=SCRIPT_HASH)
    return template.generate(**context) if stream else template.render(**context)
