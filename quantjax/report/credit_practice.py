"""Credit-practice sections of the credit report: score points, feature strength (IV and WoE
bins), monotonicity, segments, fairness across protected groups, and population stability
(a ``stability.json`` in the run folder, e.g. written by ``quantjax score credit --out RUN/...``).

Every number comes from ``metrics.json`` (``data-key``) or, for stability, from
``stability.json`` (``data-source``). A section whose keys are absent is left out.
"""

from __future__ import annotations

import json
from pathlib import Path

from quantjax.report.html import Report

WOE_TABLES = 5  # WoE bin tables shown (the strongest inputs); metrics.json has them all


def build(rep: Report, run_dir: Path, m: dict) -> None:
    _points(rep, m)
    _strength(rep, m)
    _monotonicity(rep, m)
    _segments(rep, m)
    _fairness(rep, m)
    _stability(rep, run_dir)


def _points(rep: Report, m: dict) -> None:
    if not isinstance(m.get("points"), dict):
        return
    rep.section("Score points")
    rep.para("Points = offset + factor &times; ln(odds), odds = (1 - PD) / PD; higher points, "
             "lower risk. Decisions come from the PD; points only relabel it.")
    rows = [("points that double the odds (pdo)", "pdo"), ("base score", "base_score"),
            ("base odds (good:bad)", "base_odds"), ("factor", "factor"), ("offset", "offset"),
            ("points at decision.low (APPROVE above)", "at_low"),
            ("points at decision.high (DECLINE at or below)", "at_high")]
    rep.metric_table([(label, ("points", k)) for label, k in rows],
                     headers=("points scaling", "value"))


def _strength(rep: Report, m: dict) -> None:
    feats = m.get("features")
    if not isinstance(feats, dict) or not isinstance(feats.get("iv"), dict):
        return
    rep.section("Feature strength: information value and weight of evidence")
    st = feats.get("settings") or {}
    rep.para(f"IV per input on {rep.value(('features', 'settings', 'rows'))} rows; numeric "
             f"inputs cut at {rep.value(('features', 'settings', 'bins'))} training quantiles, "
             "then merged to a monotone WoE; WoE = ln(good share / bad share); a bin with no "
             f"goods or no bads gets {rep.value(('features', 'settings', 'zero_cell'))} added "
             f"to both counts. Flags: IV below {rep.value(('features', 'settings', 'weak_iv'))}"
             f" 'not predictive', above {rep.value(('features', 'settings', 'leak_iv'))} "
             "'check for leakage'." if st else "IV per input.")
    names = list(feats["iv"])
    rep.grid_table(names, ["IV", "flag"],
                   [[("features", "iv", c), ("features", "flags", c)] for c in names],
                   corner="input", sortable=True)
    woe = feats.get("woe") or {}
    for c in names[:WOE_TABLES]:
        bins = (woe.get(c) or {}).get("bins") or []
        if not bins:
            continue
        rep.subsection(f"WoE bins of {c}")
        cols = ["n", "bads", "bad_rate", "woe", "iv"]
        rep.grid_table([str(b["bin"]) for b in bins], ["rows", "bads", "default rate", "WoE",
                                                        "IV term"],
                       [[("features", "woe", c, "bins", i, k) for k in cols]
                        for i in range(len(bins))], corner="bin")


def _monotonicity(rep: Report, m: dict) -> None:
    mono = m.get("monotonicity")
    if not isinstance(mono, dict) or not mono:
        return
    rep.section("Monotonicity (partial dependence)")
    rep.para("Share of validation rows whose PD moves against the schema's declared direction "
             "when only that input moves along its training quantiles (5% to 95%); flagged "
             "above the max share.")
    names = list(mono)
    keys = ["direction", "share", "violations", "rows", "max_share", "flagged"]
    rep.grid_table(names, ["direction", "share against", "rows against", "rows", "max share",
                           "flagged"],
                   [[("monotonicity", c, k) for k in keys] for c in names], corner="input")


def _group_table(rep: Report, base: tuple, groups: dict, keys: list[str],
                 labels: list[str]) -> None:
    names = list(groups)
    rep.grid_table(names, labels, [[(*base, g, k) for k in keys] for g in names],
                   corner="group")


def _segments(rep: Report, m: dict) -> None:
    seg = m.get("segments")
    if not isinstance(seg, dict) or not seg:
        return
    rep.section("Metrics by segment")
    rep.para("Test rows (pooled out-of-fold rows under cross-validation) by the value of each "
             "segment column; approval = APPROVE (PD below decision.low).")
    keys = ["n", "default_rate", "auc", "ks", "ece", "approval_rate"]
    labels = ["rows", "default rate", "AUC", "KS", "ECE", "approval rate"]
    for col, groups in seg.items():
        rep.subsection(f"Segment {col}")
        _group_table(rep, ("segments", col), groups, keys, labels)


def _fairness(rep: Report, m: dict) -> None:
    fair = m.get("fairness")
    if not isinstance(fair, dict) or not fair:
        return
    rep.section("Fairness across protected groups")
    rep.para("Adverse impact ratio = a group's approval rate / the most-approved group's "
             "(flagged below the four-fifths threshold); AUC gap = largest minus smallest "
             "group AUC. Groups with fewer rows than fairness.min_rows are shown (small) but "
             "not counted in the most-approved group, the smallest ratio, the flags or the gap.")
    keys = ["n", "default_rate", "approval_rate", "adverse_impact_ratio", "auc", "small"]
    labels = ["rows", "default rate", "approval rate", "adverse impact ratio", "AUC", "small"]
    for col, r in fair.items():
        rep.subsection(f"Protected column {col}")
        rep.para(f"{col} was {'a model input (schema protected_inputs: true)' if r.get('model_input') else 'not a model input'}.")
        rep.metric_table([("most-approved group", ("fairness", col, "reference_group")),
                          ("smallest adverse impact ratio",
                           ("fairness", col, "min_adverse_impact_ratio")),
                          ("threshold (fairness.min_air)", ("fairness", col, "min_air")),
                          ("groups counted from (fairness.min_rows)",
                           ("fairness", col, "min_rows")),
                          ("AUC gap", ("fairness", col, "auc_gap")),
                          ("model input", ("fairness", col, "model_input"))],
                         headers=(col, "value"))
        _group_table(rep, ("fairness", col, "groups"), r.get("groups") or {}, keys, labels)
        below = r.get("below_min_air") or []
        if below:
            rep.note(f"{col}: adverse impact ratio below the threshold for "
                     f"{', '.join(map(str, below))}.")


def _stability(rep: Report, run_dir: Path) -> None:
    path = run_dir / "stability.json"
    if not path.is_file():
        return
    try:
        st = json.loads(path.read_text())
    except json.JSONDecodeError:
        rep.note(f"{path.name} is not valid JSON: no stability section.")
        return
    rep.section("Population stability")
    th = st.get("thresholds") or {}
    rep.para(f"From {path.name}: {st.get('n')} rows against {st.get('reference_population')}; "
             f"index = sum (current - reference) ln(current / reference) over the bins; "
             f"watch at {th.get('watch')}, act at {th.get('act')}.")
    rows = []
    if st.get("psi") is not None:
        rows.append(["PD (PSI)", st["psi"], st.get("psi_status") or ""])
    for c in st.get("ranked") or []:
        rows.append([c, st["csi"][c], st["status"][c]])
    rep.data_table(["input", "index", "status"], rows, source=path.name)
