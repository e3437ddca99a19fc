"""Benchmark: Recall-vs-Area curves per benchmark (placeholder until the bench module lands)."""

import streamlit as st

st.title("Benchmark")
st.info("Benchmark evaluation is not available yet.")
