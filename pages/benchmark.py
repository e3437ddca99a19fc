"""Benchmark: Recall-vs-Area curves, summary with intervals and GCD accuracies for a benchmark folder."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

import pages._shared  # noqa: F401 - the process-wide caches and gc.freeze every page shares
from geolocate import presets, settings

st.title("Benchmark: Recall vs Area")
st.caption(
    "For every test photo, rank the globe by the expert's density and count how much area you must search before "
    "reaching the true location. **Recall at area A** is the share of photos found within A km². Higher and further "
    "left is better; AUC summarises the curve on a log-area axis. The ensemble uses the weights below (or fitted ones)."
)

try:
    from geolocate.bench import load_benchmark, run_benchmark
    from geolocate.data import discover_benchmarks
    from geolocate.plots import rva_chart
except ImportError as err:  # the bench module is part of the project; say so rather than crash if it is absent
    st.error(f"The benchmark module is unavailable in this install: {err}")
    st.stop()

N_BOOT = 200
WORKSHOP = settings.workshop_mode()
MAX_SAMPLES: int = settings.workshop_max_samples()
"""Most photos one run may use in workshop mode (unused otherwise)."""


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


@st.cache_data(show_spinner=False, max_entries=16)
def _run(folder: str, name: str, experts: tuple[str, ...], weights: tuple[tuple[str, float], ...], fit: bool, max_samples: int | None, _progress=None):
    spec = next(s for s in _discover(folder) if s.name == name)
    return run_benchmark(spec, experts=list(experts), weights=dict(weights), fit=fit, max_samples=max_samples, progress=_progress, n_boot=N_BOOT)


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
                st.session_state["bench_result"] = (cfg, _run(*cfg, _progress=progress))
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
st.altair_chart(rva_chart(result.curves, title=None, width=None, height=420), width="stretch")
st.caption("Dashed lines: the area of a disc of radius 1, 25, 200, 750 and 2500 km (the classic street/city/region/country/continent thresholds).")

# ---- summary with intervals ------------------------------------------------------------------------------
s = result.summary


def _ci(v, lo, hi, fmt=lambda x: f"{x:.3f}") -> str:
    return f"{fmt(v)}  [{fmt(lo)}, {fmt(hi)}]"


def area_fmt(a: float) -> str:
    return f"{a:,.0f}" if a >= 100 else f"{a:.3g}"


tbl = pd.DataFrame({"expert": s["expert"], "AUC [95% CI]": [_ci(a, b, c) for a, b, c in zip(s["auc"], s["auc_lo"], s["auc_hi"])]})
for q in ("0.25", "0.5", "0.75"):
    if f"area@{q}" in s:
        tbl[f"area for {float(q):.0%} recall, km² [CI]"] = [_ci(a, b, c, area_fmt) for a, b, c in zip(s[f"area@{q}"], s[f"area@{q}_lo"], s[f"area@{q}_hi"])]
for c in [c for c in s.columns if c.startswith("recall@")]:
    tbl[c.replace("recall@", "recall ≤ ") + " km²"] = s[c].map(lambda v: f"{v:.1%}")
st.subheader("Summary")
st.dataframe(tbl, hide_index=True)

st.subheader("Great-circle accuracy (share within r km)")
acc = [c for c in s.columns if c.startswith("acc@")]
gcd = pd.DataFrame({"expert": s["expert"]})
for c in acc:
    gcd[f"mode {c[4:]}"] = s[c]
    if f"pred_{c}" in s:
        gcd[f"raw prediction {c[4:]}"] = s[f"pred_{c}"]
st.dataframe(gcd, hide_index=True, column_config={c: st.column_config.NumberColumn(format="percent") for c in gcd.columns if c != "expert"})
st.caption("*mode*: the centre of the densest cell of each expert's map; *raw prediction*: a point expert's own coordinates.")

st.subheader("Ensemble weights")
st.dataframe(pd.DataFrame({"expert": list(result.weights), "weight": list(result.weights.values())}), hide_index=True)
