"""A tiny self-contained HTML document builder: sections, notes, metric tables, embedded PNG
figures and a sortable data table (a few lines of inline JS; no CDN, no network).

Every metric value is written with :func:`quantjax.report.fmt.fmt_value` inside an element
carrying ``data-key``: the JSON-encoded key path of the value in ``metrics.json``. Values that
come from another file of the run (a trial table) carry ``data-source`` instead.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
from collections.abc import Sequence
from typing import Any

from quantjax import __version__
from quantjax.report.fmt import Path, fmt_value, has, lookup

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;
padding:1em 2em;color:#222;background:#fff}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.8em}h3{margin-bottom:.3em}
.meta{color:#666;font-size:.9em}.note{background:#fff8e1;border-left:4px solid #f0b400;
padding:.4em .8em;margin:.6em 0;font-size:.92em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th.asc::after{content:" \\25B2"}table.sortable th.desc::after{content:" \\25BC"}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#444;font-size:.9em}.wrap{overflow-x:auto}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}
"""

# Click a header to sort by that column (numbers numerically, text alphabetically).
_SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (t) {
  t.querySelectorAll("th").forEach(function (th, i) {
    th.addEventListener("click", function () {
      var asc = !th.classList.contains("asc");
      t.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var key = function (r) {
        var c = r.cells[i], v = c.getAttribute("data-sort");
        var n = parseFloat(v === null ? c.textContent.replace(/,/g, "") : v);
        return isNaN(n) ? c.textContent : n;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { return (typeof x === "number" ? -1 : 1); }
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


def key_attr(path: Path) -> str:
    return esc(json.dumps(list(path)))


class Report:
    """Accumulates the body of one report; :meth:`to_html` returns the full document."""

    def __init__(self, title: str, kind: str, run_dir: str, metrics: dict):
        self.title, self.kind, self.run_dir, self.metrics = title, kind, run_dir, metrics
        self.parts: list[str] = []
        self.has_sortable = False

    # -- text ---------------------------------------------------------------------------
    def section(self, title: str) -> None:
        self.parts.append(f"<h2>{esc(title)}</h2>")

    def subsection(self, title: str) -> None:
        self.parts.append(f"<h3>{esc(title)}</h3>")

    def para(self, text_html: str) -> None:
        self.parts.append(f"<p>{text_html}</p>")

    def note(self, text: str) -> None:
        """A visible note for a missing piece (never an empty figure)."""
        self.parts.append(f'<div class="note">{esc(text)}</div>')

    def value(self, path: Path) -> str:
        """Inline HTML of the metric at ``path`` (``n/a`` if absent)."""
        if not has(self.metrics, path):
            return '<span class="m">n/a</span>'
        v = lookup(self.metrics, path)
        return f'<span class="m" data-key="{key_attr(path)}">{esc(fmt_value(v))}</span>'

    # -- tables -------------------------------------------------------------------------
    def metric_table(self, rows: Sequence[tuple[str, Path]], headers=("metric", "value")) -> None:
        """Two-column table (label, value) of metrics that exist; absent keys are skipped."""
        body = []
        for label, path in rows:
            if not has(self.metrics, path):
                continue
            v = lookup(self.metrics, path)
            body.append(f'<tr><td class="l">{esc(label)}</td>'
                        f'<td data-key="{key_attr(path)}">{esc(fmt_value(v))}</td></tr>')
        if body:
            self.parts.append(f'<table><thead><tr><th class="l">{esc(headers[0])}</th>'
                              f"<th>{esc(headers[1])}</th></tr></thead><tbody>"
                              + "".join(body) + "</tbody></table>")

    def mapping_table(self, path: Path, headers=("key", "value")) -> None:
        """:meth:`metric_table` of every key of the mapping at ``path`` (nothing if it is
        absent, empty or not a mapping)."""
        d = lookup(self.metrics, path) if has(self.metrics, path) else None
        if isinstance(d, dict) and d:
            self.metric_table([(str(k), (*path, k)) for k in d], headers=headers)

    def grid_table(self, row_labels: Sequence[str], col_labels: Sequence[str],
                   paths: Sequence[Sequence[Path | None]], corner: str = "",
                   sortable: bool = False) -> None:
        """Table whose cell (i, j) is the metric at ``paths[i][j]`` (None -> empty cell)."""
        cls = ' class="sortable"' if sortable else ""
        self.has_sortable |= sortable
        head = f'<th class="l">{esc(corner)}</th>' + "".join(f"<th>{esc(c)}</th>"
                                                             for c in col_labels)
        rows = []
        for label, prow in zip(row_labels, paths, strict=True):
            cells = []
            for p in prow:
                if p is None or not has(self.metrics, p):
                    cells.append("<td></td>")
                    continue
                v = lookup(self.metrics, p)
                cells.append(f'<td data-key="{key_attr(p)}">{esc(fmt_value(v))}</td>')
            rows.append(f'<tr><td class="l">{esc(label)}</td>{"".join(cells)}</tr>')
        self.parts.append(f'<div class="wrap"><table{cls}><thead><tr>{head}</tr></thead><tbody>'
                          + "".join(rows) + "</tbody></table></div>")

    def data_table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], source: str,
                   sortable: bool = True) -> None:
        """A table of values read from another file of the run (``data-source`` = its name)."""
        cls = ' class="sortable"' if sortable else ""
        self.has_sortable |= sortable
        head = "".join(f"<th>{esc(c)}</th>" for c in columns)
        body = []
        src = esc(source)
        for r in rows:
            cells = []
            for v in r:
                num = isinstance(v, (int, float)) and not isinstance(v, bool)
                sort = f' data-sort="{esc(repr(float(v)))}"' if num else ""
                cls_l = "" if num else ' class="l"'
                cells.append(f'<td data-source="{src}"{sort}{cls_l}>{esc(fmt_value(v))}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
        self.parts.append(f'<div class="wrap"><table{cls}><thead><tr>{head}</tr></thead><tbody>'
                          + "".join(body) + "</tbody></table></div>")

    # -- figures ------------------------------------------------------------------------
    def figure(self, fig, caption_html: str, alt: str) -> None:
        """Embed a matplotlib Figure as a base64 PNG (Agg canvas) with a caption."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        self.parts.append(f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{data}">'
                          f"<figcaption>{caption_html}</figcaption></figure>")

    def pre(self, text: str, summary: str) -> None:
        self.parts.append(f"<details><summary>{esc(summary)}</summary><pre>{esc(text)}</pre>"
                          "</details>")

    # -- document -----------------------------------------------------------------------
    def to_html(self) -> str:
        now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        script = f"<script>{_SORT_JS}</script>" if self.has_sortable else ""
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{esc(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{esc(self.title)}</h1>"
            f'<div class="meta">run folder <code>{esc(self.run_dir)}</code> &middot; kind '
            f"<b>{esc(self.kind)}</b> &middot; generated {esc(now)} by quantjax "
            f"{esc(__version__)} &middot; every number in the tables and captions is read "
            "from the run's metrics.json</div>"
            + "\n".join(self.parts) + script + "</body></html>\n"
        )
