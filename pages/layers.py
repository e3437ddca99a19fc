"""Layers: the land-cover, population and country layers on the map."""

import streamlit as st

st.title("Layers")
