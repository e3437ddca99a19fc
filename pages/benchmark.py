"""Benchmark: Recall-vs-Area curves, summary with intervals and GCD accuracies for a benchmark folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import streamlit as st

import pages._shared  # noqa: F401 - the process-wide caches and gc.freeze every page shares
from geolocate import __version__, benchfmt, presets, settings

st.title("Benchmark: Recall vs Area")
st.caption(
    "For every test photo, rank the globe by the expert's density and count how much area you must search before "
    "reaching the true location. **Recall at area A** is the share of photos found within A km². Higher and further "
    "left is better; AUC summarises the curve on a log-area axis. The ensemble uses the weights below (or fitted ones)."
)

try:
    from geolocate.bench import load_benchmark, run_benchmark
    from geolocate.data import discover_benchmarks
    from geolocate.plots import chart_png, chart_svg, rva_chart
except ImportError as err:  # the bench module is part of the project; say so rather than crash if it is absent
    st.error(f"The benchmark module is unavailable in this install: {err}")
    st.stop()

N_BOOT = 200
WORKSHOP = settings.workshop_mode()
MAX_SAMPLES: int = settings.workshop_max_samples()  # most photos one run may use in workshop mode (unused otherwise)


def _md(text: object) -> str:
    """``text`` with Markdown (and Streamlit's :directives:) escaped, for labels built from file names."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", str(text))


allowed = settings.data_dirs()
folder_text = st.text_input(
    "Benchmark folder",
    value=str(settings.default_data_dir()),
    help="Sub-folders with gt.csv or places365.csv, predictions/*.csv and attribute CSVs (Prob_* columns). "
    "Only folders inside the server's data folders can be read (env GEOLOCATE_DATA_DIRS; GEOLOCATE_DATA_DIR sets the default).",
)
resolved = settings.allowed_data_path(folder_text)
if resolved is None:
    # The typed path is user text: shown verbatim in a code block, never as Markdown.
    st.error("This server only reads benchmarks inside its data folders; the folder below is not one of them. Set GEOLOCATE_DATA_DIRS on the server to allow more.")
    st.code(folder_text, language=None)
    st.caption("Data folders of this server:")
    st.code("\n".join(map(str, allowed)), language=None)
    st.stop()
folder = str(resolved)


@st.cache_data(show_spinner=False)
def _discover(folder: str):
    return discover_benchmarks(folder)


@st.cache_data(show_spinner="Reading the benchmark files…")
def _expert_table(folder: str, name: str) -> tuple[list[tuple[str, str]], list[str]]:
    spec = next(s for s in _discover(folder) if s.name == name)
    data = load_benchmark(spec, max_samples=20)
    return [(e.name, e.kind) for e in data.experts], list(data.reports)


def _run(folder: str, name: str, experts: tuple[str, ...], weights: tuple[tuple[str, float], ...], fit: bool, max_samples: int | None, progress=None):
    # Not st.cache_data: a cached call replays the progress bar's updates, which belong to the run that made them
    # (a second session with the same settings got "a streamlit element is called on some layout block created
    # outside the function"). The session keeps its result; pressing Run runs again.
    spec = next(s for s in _discover(folder) if s.name == name)
    return run_benchmark(spec, experts=list(experts), weights=dict(weights), fit=fit, max_samples=max_samples, progress=progress, n_boot=N_BOOT)


try:
    specs = _discover(folder)
except OSError as err:
    st.error(f"Cannot read the folder: {type(err).__name__}")
    st.code(f"{folder}\n{err}", language=None)
    st.stop()
if not specs:
    st.warning("No benchmarks found in this folder. A benchmark is a sub-folder with gt.csv (or places365.csv with lat/lon) and predictions/*.csv.")
    st.code(folder, language=None)
    st.stop()

spec_names = [s.name for s in specs]
name = st.selectbox("Benchmark", spec_names, format_func=lambda n: next(f"{s.name}  ({len(s.predictions)} prediction files, {len(s.attributes)} attribute files)" for s in specs if s.name == n))
try:
    table, reports = _expert_table(folder, name)
except Exception as err:  # noqa: BLE001 - malformed user files must give a message
    st.error("Could not read this benchmark:")
    st.code(str(err), language=None)
    st.stop()
with st.expander("Files read"):
    for r in reports:
        st.text(r)

kinds = dict(table)
chosen = st.multiselect("Experts", list(kinds), default=list(kinds), format_func=lambda n: f"{n} · {kinds[n]}")
c1, c2 = st.columns([1, 2])
if WORKSHOP:
    st.info(f"Workshop mode: runs use at most {MAX_SAMPLES} photos and fixed weights (no fitting), one run at a time on this server.")
fit = c1.toggle("Fit the weights", value=False, disabled=WORKSHOP, help="Coordinate ascent on half of the photos (grouped), evaluation on the other half.")
if WORKSHOP:
    fit = False
    typed = c1.number_input("Photos to use", min_value=1, max_value=MAX_SAMPLES, value=min(300, MAX_SAMPLES), step=100, help=f"At most {MAX_SAMPLES} in workshop mode.")
    max_samples = min(max(int(typed or 1), 1), MAX_SAMPLES)  # the widget's bounds are the browser's; enforce here too
else:
    max_samples = int(c1.number_input("Photos to use (0 = all)", min_value=0, value=300, step=100, help="Fewer photos: faster, wider intervals.") or 0)


@st.cache_data(show_spinner=False, max_entries=32)
def _planned(folder: str, name: str, max_samples: int | None) -> tuple[int, int, bool]:
    spec = next(s for s in _discover(folder) if s.name == name)
    return benchfmt.planned_split(spec, max_samples)


try:
    used, evaluated, by_author = _planned(folder, name, int(max_samples) or None)
    by = "photographer" if by_author else "image id (the ground truth names no photographer)"
    c1.caption(
        f"{used:,} photos: **{evaluated:,} are evaluated** (the eval half, split by {by}); the other {used - evaluated:,} "
        "fit the point models' error kernels" + (" and the weights." if fit else ".")
    )
except Exception:  # noqa: BLE001 - the run itself reports a bad file with its line; this is only a hint
    pass

weights = {}
if not fit and chosen:
    with c2:
        st.caption("Ensemble weights")
        cols = st.columns(3)
        for i, n in enumerate(chosen):
            weights[n] = cols[i % 3].number_input(_md(n), min_value=0.0, max_value=presets.WEIGHT_MAX, value=float(presets.default_weight(n)), step=0.1, key=f"bw::{n}")

run = st.button("Run benchmark", type="primary", disabled=not chosen)
cfg = (folder, name, tuple(chosen), tuple(sorted(weights.items())), fit, int(max_samples) or None)
if run:
    # One heavy run per server process: a second visitor is told to come back rather than doubling the memory.
    with settings.HEAVY_RUN.take() as got_slot:
        if not got_slot:
            st.warning("A benchmark is running on this server; try again in a few minutes.")
        else:
            bar = st.progress(0.0, text="Starting…")

            def progress(fraction: float, message: str) -> None:
                bar.progress(min(max(float(fraction), 0.0), 1.0), text=str(message)[:120])

            try:
                st.session_state["bench_result"] = (cfg, _run(*cfg, progress=progress))
            except Exception as err:  # noqa: BLE001
                st.session_state.pop("bench_result", None)
                st.error("Benchmark failed:")
                st.code(str(err), language=None)
            bar.empty()

if "bench_result" not in st.session_state:
    st.info("Choose experts and press **Run benchmark**.")
    st.stop()
ran_cfg, result = st.session_state["bench_result"]
if ran_cfg != cfg:
    st.caption("Showing the last run; settings changed since — press Run to update.")

# ---- RvA curves ----------------------------------------------------------------------------------------
report = result.report
kinds = {n: str(e.get("kind", "")) for n, e in report.get("experts", {}).items()}
dark = (st.context.theme.type or st.get_option("theme.base") or "light") == "dark"
chart = rva_chart(result.curves, title=None, width=None, height=420, kinds=kinds, ensemble_colour="#ffffff" if dark else "#000000")
st.altair_chart(chart, width="stretch")
n_eval, sample = benchfmt.evaluated_sample(report)
st.markdown(f"**{_md(sample)}** of the {_md(report.get('benchmark', name))} benchmark.")
st.caption(
    "The ensemble is the thick line; priors (which ignore the photo) are dashed. Vertical dotted lines: the area of a "
    "disc of radius 1, 25, 200, 750 and 2500 km (the classic street/city/region/country/continent thresholds). "
    "Intervals are 95% bootstrap intervals" + (" resampling photographers." if report.get("bootstrap", {}).get("unit") == "author" else " resampling photos.")
)

# ---- summary with intervals ------------------------------------------------------------------------------
s = benchfmt.ensemble_first(result.summary)
tbl = pd.DataFrame({"expert": s["expert"], "AUC [95% CI]": [benchfmt.interval(a, b, c) for a, b, c in zip(s["auc"], s["auc_lo"], s["auc_hi"])]})
for q in ("0.25", "0.5", "0.75"):
    if f"area@{q}" in s:
        tbl[f"area for {float(q):.0%} recall [95% CI]"] = [
            benchfmt.interval(a, b, c, unit="km²") for a, b, c in zip(s[f"area@{q}"], s[f"area@{q}_lo"], s[f"area@{q}_hi"])
        ]
# Recall at fixed areas is its own table: one table with every column was wider than the page and scrolled sideways.
recall = pd.DataFrame({"expert": s["expert"]})
for c in [c for c in s.columns if c.startswith("recall@")]:
    recall[f"within {benchfmt.scaled(float(c.split('@')[1]), unit='km²')}"] = s[c].map(benchfmt.percent)


def _highlight_ensemble(row: pd.Series) -> list[str]:
    # Background only: Streamlit's grid draws a Styler's colours; the ensemble is also the first row.
    return ["background-color: rgba(240, 160, 48, 0.28)" if row["expert"] == "ensemble" else "" for _ in row]


def _rows_height(n: int) -> int:
    """Pixels that show a table's header and ``n`` rows without a scroll bar (Streamlit rows are 35 px)."""
    return 35 * (n + 1) + 3


st.subheader("Summary")
st.dataframe(tbl.style.apply(_highlight_ensemble, axis=1), hide_index=True, height=_rows_height(len(tbl)), width="stretch", key="summary_table")
if len(recall.columns) > 1:
    st.caption("Recall (share of photos found) within a search area of:")
    st.dataframe(recall.style.apply(_highlight_ensemble, axis=1), hide_index=True, height=_rows_height(len(recall)), width="stretch")

st.subheader("Great-circle accuracy (share of photos within r km)")
entries = {"ensemble": report.get("ensemble", {})} | dict(report.get("experts", {}))


def _accuracy_table(key: str) -> pd.DataFrame:
    """Experts (ensemble first) by radius: the share within r km with its interval, from the report."""
    rows = []
    for expert in s["expert"]:
        acc = entries.get(expert, {}).get(key)
        if acc:
            rows.append({"expert": expert} | {f"{r} km": benchfmt.interval(100 * v["value"], 100 * v["lo"], 100 * v["hi"], scale_units=False) + " %" for r, v in acc.items()})
    return pd.DataFrame(rows)


mode = _accuracy_table("gcd_accuracy")
st.caption("Of each expert's map's mode (the centre of its densest cell), in % [95% CI]:")
st.dataframe(mode.style.apply(_highlight_ensemble, axis=1), hide_index=True, height=_rows_height(len(mode)), width="stretch")
raw = _accuracy_table("prediction_gcd_accuracy")
if len(raw):
    st.caption("Of a point model's own coordinates (its raw prediction), in % [95% CI]:")
    st.dataframe(raw, hide_index=True, height=_rows_height(len(raw)), width="stretch")

st.subheader("Ensemble weights")
st.dataframe(pd.DataFrame({"expert": list(result.weights), "weight": list(result.weights.values())}), hide_index=True)

# ---- downloads -------------------------------------------------------------------------------------------
st.subheader("Downloads")
stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"rva_{report.get('benchmark', name)}_n{n_eval}")
export_chart = rva_chart(result.curves, title=f"Recall vs Area: {report.get('benchmark', name)} ({sample})", width=760, height=420, kinds=kinds)
d1, d2, d3, d4 = st.columns(4)
d1.download_button("Report (JSON)", json.dumps(report, indent=2), file_name=f"{stem}.json", mime="application/json", on_click="ignore", key="dl_json")
d2.download_button("Curves (CSV)", benchfmt.curves_csv(result.curves), file_name=f"{stem}_curves.csv", mime="text/csv", on_click="ignore", key="dl_csv")
# Rendered only when asked (a deferred callable): vl-convert takes about a second per image.
d3.download_button("Plot (PNG)", lambda: chart_png(export_chart), file_name=f"{stem}.png", mime="image/png", on_click="ignore", key="dl_png")
d4.download_button("Plot (SVG)", lambda: chart_svg(export_chart), file_name=f"{stem}.svg", mime="image/svg+xml", on_click="ignore", key="dl_svg")


# ---- how to cite -----------------------------------------------------------------------------------------
@st.cache_data(show_spinner="Fingerprinting the data files…", max_entries=16)
def _fingerprint(files: tuple[tuple[str, int, float], ...]) -> str:
    """SHA-256 of the files (keyed by path, size and modification time, so an edited file is hashed again)."""
    return benchfmt.files_sha256(f for f, _, _ in files)


st.subheader("How to cite")
spec = next(x for x in specs if x.name == name)
paths = list(dict.fromkeys([Path(spec.ground_truth), *map(Path, spec.predictions), *map(Path, spec.attributes)]))  # gt.csv may also hold the attributes
try:
    digest = _fingerprint(tuple((str(p), p.stat().st_size, p.stat().st_mtime) for p in paths))
except OSError as err:
    digest = f"unavailable ({type(err).__name__})"
text, bibtex = benchfmt.citation(__version__, str(report.get("benchmark", name)), digest, len(paths))
st.caption("The method and the Recall vs Area metric; then this run's software version and the fingerprint of its data files:")
st.code(text, language=None, wrap_lines=True)
st.code(bibtex, language="bibtex", wrap_lines=True)
