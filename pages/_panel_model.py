"""The "Ask a vision-language model" panel: endpoint, model, samples, temperature, and an explicit ask.

Nothing is sent until the analyst clicks "Ask the model"; the panel names the host that will receive
the photo first, and in privacy mode refuses any endpoint that is not on this machine or on the
server's allow-list (``GEOLOCATE_VLM_ALLOWED_HOSTS``). Answers go to the in-memory answer cache
(:data:`geolocate.experts.vlm.ANSWER_CACHE`), which :class:`~geolocate.evidence.model.ModelEvidence`
reads. The model's clues and reasoning are shown with ``st.text`` only (plain text, never Markdown or
HTML). The API key comes from the server's environment and is never shown. Widget keys start ``vlm::``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import streamlit as st

from geolocate.evidence import Message
from geolocate.evidence.model import ModelEvidence, default_endpoint, default_model
from geolocate.experts import vlm
from pages._shared import show_message

ENDPOINT, MODEL, SAMPLES, TEMPERATURE, SHARE, ASK, MESSAGES = (
    "vlm::endpoint", "vlm::model", "vlm::samples", "vlm::temperature", "vlm::share", "vlm::ask", "vlm::messages",
)
MAX_PHOTOS = 4
"""Photos of an album asked about per click (each costs ``samples`` answers)."""


def _init(key: str, value: Any, restored: bool) -> None:
    if restored or key not in st.session_state:
        st.session_state[key] = value


def ask(evidence: ModelEvidence, photos: Sequence[Any], privacy: bool, stated: Sequence[tuple[str, str]] = ()) -> list[Message]:
    """Send the photos to the model now (the panel's button calls this) and cache the answers in memory.

    Returns:
        Messages for the analyst (plain text; never the key).
    """
    refusal = vlm.endpoint_refusal(evidence.endpoint, privacy)
    if refusal:
        return [Message("error", refusal)]
    try:
        config = vlm.VLMConfig(evidence.endpoint, evidence.model, samples=evidence.samples, temperature=evidence.temperature)
    except ValueError as err:
        return [Message("error", "The model settings are not valid.", str(err))]
    api_key = vlm.api_key_from_env() if vlm.key_allowed(evidence.endpoint) else ""
    client = vlm.VLMClient(config, api_key=api_key, cap=vlm.shared_cap(evidence.endpoint, config.requests_per_minute))
    messages: list[Message] = []
    try:
        for photo in list(photos)[:MAX_PHOTOS]:
            answers = client.ask(photo, stated=stated)
            key = vlm.ANSWER_CACHE.key(photo, evidence.endpoint, evidence.model, evidence.samples)
            if answers.answers:
                vlm.ANSWER_CACHE.put(key, answers)
            name = getattr(photo, "name", "photo")
            messages += [Message(m.level, f"{name}: {m.text}" if len(photos) > 1 else m.text, m.detail) for m in answers.messages]
    finally:
        client.close()
    if len(photos) > MAX_PHOTOS:
        messages.append(Message("info", f"Only the first {MAX_PHOTOS} of {len(photos)} photos were sent."))
    return messages


def panel(evidence: ModelEvidence, photos: Sequence[Any], privacy: bool, *, stated: Sequence[tuple[str, str]] = (), restored: bool = False) -> ModelEvidence:
    """Draw the panel in the current container and return the evidence it states.

    Args:
        evidence: the current model evidence (from a link: model and samples only).
        photos: the decoded photos (in memory).
        privacy: privacy mode is on.
        stated: the analyst's other statements (plain-text pairs), sent only if the analyst ticks the box.
        restored: the session's first run (widgets take the link's values).
    """
    _init(ENDPOINT, evidence.endpoint or default_endpoint(), restored)
    _init(MODEL, evidence.model or default_model(), restored)
    _init(SAMPLES, int(evidence.samples), restored)
    _init(TEMPERATURE, float(evidence.temperature), restored)
    _init(SHARE, False, restored)
    st.header("Ask a vision-language model")
    st.caption(
        "Any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio, or a hosted API). Nothing is sent until "
        "you click 'Ask the model'; sending a photo to a remote server gives it to a third party."
    )
    st.text_input("Endpoint (base URL)", key=ENDPOINT, placeholder="http://127.0.0.1:8000/v1")
    st.text_input("Model", key=MODEL, placeholder="e.g. Qwen/Qwen2.5-VL-7B-Instruct")
    st.number_input("Samples", min_value=1, max_value=vlm.MAX_SAMPLES, step=1, key=SAMPLES, help="Answers sampled per photo; each candidate becomes a kernel.")
    st.slider("Temperature", min_value=0.0, max_value=2.0, step=0.1, key=TEMPERATURE)
    if stated:
        st.checkbox("Also send what you stated (countries, time) to the model", key=SHARE)
    ev = ModelEvidence(
        model=str(st.session_state[MODEL]).strip(),
        samples=int(st.session_state[SAMPLES]),
        endpoint=vlm.normalise_endpoint(st.session_state[ENDPOINT]),
        temperature=float(st.session_state[TEMPERATURE]),
    )
    refusal = vlm.endpoint_refusal(ev.endpoint, privacy) if ev.endpoint else None
    if refusal:
        show_message(Message("error", refusal))
    elif ev.host:
        st.text(f"The photo will be sent to: {ev.host}")
        if vlm.api_key_from_env() and not vlm.key_allowed(ev.endpoint):
            st.caption("The server's API key is not sent to this host (only to hosts the server is configured for).")
    blocked = not photos or ev.is_empty or not ev.endpoint or refusal is not None
    if st.button("Ask the model", key=ASK, disabled=blocked, help=None if photos else "Upload a photo first."):
        with st.spinner(f"Asking {ev.model} at {ev.host} …"):
            st.session_state[MESSAGES] = ask(ev, photos, privacy, stated if st.session_state.get(SHARE) else ())
    for m in st.session_state.get(MESSAGES, []):
        show_message(m)
    shown = [a for p in list(photos)[:MAX_PHOTOS] if (a := vlm.ANSWER_CACHE.get(vlm.ANSWER_CACHE.key(p, ev.endpoint, ev.model, ev.samples)))]
    ev = replace(ev, asked=",".join(a.token for a in shown))
    if shown:
        with st.expander("The model's answers (as it wrote them)", expanded=True):
            for answers in shown:
                st.text("\n".join(vlm.answer_lines(answers)))
    return ev


def model_panel(ev: ModelEvidence, ctx: Any) -> ModelEvidence:
    """The panel in the form of pages/_panels.py's ``PANELS`` (``ctx``: its PanelContext)."""
    return panel(ev, list(getattr(ctx, "photos", [])), bool(getattr(ctx, "privacy", True)), restored=bool(getattr(ctx, "restored", False)))
