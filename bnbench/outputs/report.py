"""``bnbench report DIR``: one self-contained HTML file (plots embedded as data URIs, no external assets) with the
claims table, every claim's numbers against the study's, the speed tables and the environment — the file a user
attaches to a message. Every string from the run is HTML-escaped.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import math
import os
import stat
from pathlib import Path

from bnbench.errors import BnbenchError
from bnbench.store import Store, load_record, load_summary
from bnbench.store.files import safe_name

MAX_PLOT_BYTES = 20 * 1024 * 1024   # bnbench's figures are ~100 KB; a larger "plot" is not one of them

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;width:100%}th,td{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3;text-align:left}.supported{color:#17803d;font-weight:bold}
.contradicted{color:#c0262d;font-weight:bold}.inconclusive{color:#a56a00;font-weight:bold}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}.small{color:#666;font-size:12px}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _num(x, scale=1.0, digits=2) -> str:
    """``x * scale`` to ``digits`` decimals; a non-zero value those decimals would show as 0 (a step-loss gap of
    1e-7) in significant digits instead."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    v = x * scale
    return f"{v:.2e}" if v != 0 and abs(v) < 0.5 * 10 ** -digits else f"{v:.{digits}f}"


def _cell(x):
    """A speed row's value as the report shows it: numbers to 4 digits (NaN as n/a), sequences as lists."""
    if isinstance(x, float):
        return _num(x, digits=4)
    return list(x) if isinstance(x, tuple) else x


def _img(path: Path, store: Store | None = None) -> str:
    """A figure embedded from ``path``, which the caller computed inside the run folder (never read from data):
    a regular file only in a real folder of the run (a link could point anywhere on the reader's machine),
    bounded in size, PNG only."""
    try:
        if store is not None:
            store.readable(path)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except (OSError, BnbenchError):
        return f'<p class="small">missing plot: {_e(path.name)}</p>'
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        raw = f.read(MAX_PLOT_BYTES + 1) if stat.S_ISREG(info.st_mode) else b""
    if not raw.startswith(b"\x89PNG\r\n\x1a\n") or len(raw) > MAX_PLOT_BYTES:
        return f'<p class="small">not embedded (not a bnbench PNG figure): {_e(path.name)}</p>'
    return f'<img alt="{_e(path.name)}" src="data:image/png;base64,{base64.b64encode(raw).decode()}">'


def _obj(x) -> dict:
    """A JSON object from a file, or an empty one where the file had something else."""
    return x if isinstance(x, dict) else {}


def _setting(config: dict, key: str):
    """A provenance key's value in a config: ``model_args.hidden`` reads the model's argument."""
    return _obj(config.get("model_args")).get(key.split(".", 1)[1]) if key.startswith("model_args.") \
        else config.get(key)


def _environment(out: Path) -> dict:
    for rec in Store(out).record_files():      # real folders only: no link under records/ is followed
        try:
            return load_record(rec).env
        except (OSError, BnbenchError):
            continue
    return {}


def _anchor(kind: str, claim_id: str) -> str:
    """An id attribute for a claim's row or figure: computed from the id's safe file name, escaped."""
    return _e(f"{kind}-{safe_name(claim_id)}")


def _overview(claims) -> list[str]:
    """The top of the page: how many claims got each verdict, then one line per claim (verdict, id linked to its
    figure, sentence) — the end of the terminal run, clickable."""
    from bnbench.study.claims import claim_for

    from bnbench.verdicts.stats import VERDICTS

    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    parts = ["<h2>Verdicts</h2><p>" + " &middot; ".join(f"<span class='{_e(v)}'>{n} {_e(v)}</span>"
                                                       for v, n in counts.items() if n) + "</p><ul>"]
    for c in claims:
        claim = claim_for(c)
        parts.append(f"<li><span class='{_e(c.verdict)}'>{_e(c.verdict)}</span> "
                     f"<a href='#{_anchor('figure', c.claim_id)}'>{_e(c.claim_id)}</a> [{_e(c.profile)}] "
                     f"<span class='small'>{_e(claim.sentence if claim else '')}</span> "
                     f"<a class='small' href='#{_anchor('claim', c.claim_id)}'>numbers</a></li>")
    return parts + ["</ul>"]


def _band_figures(out: Path) -> list[str]:
    """The per-section test-accuracy figures a run drew (``artefacts.write_epoch_bands``), by name."""
    try:
        names = os.listdir(out / "plots")
    except OSError:
        return []
    return sorted(n for n in names if n.endswith("-test-accuracy.png"))[:50]


def render(run_dir: str | Path) -> str:
    from bnbench.study.claims import claim_for
    from bnbench.outputs.table import evidence, study_reading

    summary = load_summary(run_dir)
    store = Store(Path(summary.path).parent)
    out = store.out                      # resolved: every path below is computed from it and checked inside it
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>bnbench report</title><style>{CSS}</style>"
             "</head><body>", "<h1>bnbench report</h1>",
             f"<p class='small'>run folder {_e(out)} &middot; started {_e(summary.started_at)} &middot; "
             f"finished {_e(summary.finished_at)}"
             + (" &middot; <b>partial (interrupted)</b>" if summary.partial else "") + "</p>"]
    claims = summary.claims
    if claims:
        parts += _overview(claims)
        parts.append("<h2>Claims</h2><table><tr><th>claim</th><th>profile</th><th>study</th><th>measured a vs b "
                     "(per seed)</th><th>verdict</th><th>vs study</th><th>s/epoch a / b</th></tr>")
        for c in claims:
            claim = claim_for(c)
            scale = claim.metric.scale if claim else 1.0
            study_vals = claim.metric.study_values(claim) if claim else "—"
            measured = (", ".join(_num(v, scale) for v in c.a_values) + " vs "
                        + ", ".join(_num(v, scale) for v in c.b_values))
            if claim and study_reading(c):
                measured = f"final epoch: {measured}; {study_reading(c)}"
            checks = "; ".join(f"{d.get('what')}: {d.get('check')}" for d in c.documented) or "n/a"
            parts.append(f"<tr id='{_anchor('claim', c.claim_id)}'><td><b>{_e(c.claim_id)}</b> "
                         f"<a class='small' href='#{_anchor('figure', c.claim_id)}'>figure</a><br><span class='small'>"
                         f"{_e(claim.sentence if claim else '')}</span></td><td>{_e(c.profile)}</td>"
                         f"<td>{_e(study_vals)}</td><td>{_e(measured)}</td>"
                         f"<td><span class='{_e(c.verdict)}'>{_e(c.verdict)}</span><br>"
                         f"{_e(evidence(c, claim)) if claim else ''}<br><span class='small'>"
                         f"{_e(c.reason)}</span></td><td>{_e(checks)}</td>"
                         f"<td>{_num(c.a_s_per_epoch)} / {_num(c.b_s_per_epoch)}</td></tr>")
        parts.append("</table>")
        parts.append("<h2>Figures</h2>")
        for c in claims:
            parts.append(f"<h3 id='{_anchor('figure', c.claim_id)}'>{_e(c.claim_id)} "
                         f"<a class='small' href='#{_anchor('claim', c.claim_id)}'>numbers</a></h3>")
            for note in c.notes:
                parts.append(f"<p class='small'>{_e(note)}</p>")
            # The figure's path is computed from the claim id, as the runner wrote it: a path stored in the
            # summary could name any file of the reader's machine.
            parts.append(_img(out / "plots" / f"{safe_name(c.claim_id)}.png", store))
        for extra in ("2.3_loss-landscape.png", "documented.png"):
            if (out / "plots" / extra).is_file():
                parts.append(f"<h3>{_e(extra)}</h3>" + _img(out / "plots" / extra, store))
    bands = _band_figures(out)
    if bands:
        parts.append("<h2>Test accuracy per epoch</h2><p class='small'>per section: the mean over seeds with the "
                     "seeds' min..max band</p>")
        parts += [_img(out / "plots" / name, store) for name in bands]
    experiments = summary.experiments
    if experiments:
        parts.append("<h2>Experiments: what was trained, beside the study's settings</h2><p class='small'>this "
                     "run: the configuration seed 0 trained with (from its record); study: the study-scale value where "
                     "it differs, and where it comes from (study code: the study's published scripts; report: its "
                     "tables; course template; paper: Santurkar et al.; assumption: bnbench's choice, with its "
                     "reason; bnbench: execution: how, not what, is computed).</p>")
        for exp_id, info in experiments.items():
            info = info if isinstance(info, dict) else {}
            config, provenance = _obj(info.get("config")), _obj(info.get("provenance"))
            study_config = _obj(info.get("study_config")) or config
            parts.append(f"<h3>{_e(exp_id)}</h3><table><tr><th>setting</th><th>this run</th><th>study</th>"
                         "<th>source</th></tr>")
            for key, source in provenance.items():
                value, want = (_setting(c, key) for c in (config, study_config))
                study_cell = "same" if value == want else f"{want} ({source})"
                parts.append(f"<tr><td>{_e(key)}</td><td>{_e(value)}</td><td>{_e(study_cell)}</td>"
                             f"<td>{_e(source)}</td></tr>")
            parts.append("</table>")
    for key, title in (("speed", "Speed: MyNet against the study-style loop"), ("model_speed", "Speed per model")):
        rows = getattr(summary, key)   # SpeedRow / ModelSpeed: one column per field, in the fields' order
        if rows:
            cols = [f.name for f in dataclasses.fields(rows[0])]
            parts.append(f"<h2>{_e(title)}</h2><table><tr>" + "".join(f"<th>{_e(k)}</th>" for k in cols) + "</tr>")
            for r in rows:
                parts.append("<tr>" + "".join(f"<td>{_e(_cell(getattr(r, k)))}</td>" for k in cols) + "</tr>")
            parts.append("</table>")
    env = _environment(out)
    if env:
        parts.append("<h2>Environment</h2><table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
                                                            for k, v in env.items()) + "</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Writes the report and returns its absolute path. The target is rebuilt from its folder's ``Store.out``
    (resolved): the store checks that a path lies inside its folder, so a path as typed (relative, or through a
    link such as macOS's /tmp) would be refused as outside it."""
    text = render(run_dir)
    given = Path(output) if output else Path(load_summary(run_dir).path).parent / "report.html"
    if given.name in ("", ".", "..") or given.is_dir():
        raise BnbenchError(f"{given} is a folder; -o takes a file name, e.g. {given / 'report.html'}")
    store = Store(given.parent)
    target = store.out / given.name
    try:
        store.write_text(target, text)
    except OSError as exc:
        raise BnbenchError(f"cannot write the report to {target} ({exc.strerror or exc}); use -o FILE") from None
    return target
