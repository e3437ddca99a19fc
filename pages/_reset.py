"""Tell a visitor when their page was reset because the server process that held it stopped.

Each app process has a random id; every new session stores it in a browser cookie. A new session whose
browser already holds another process's id is a page that lost its process (killed, restarted, or routed
to another process by the proxy), not a fresh visit: it gets a notice that the page was reset.
"""

from __future__ import annotations

import secrets

import streamlit as st

PROCESS_ID = secrets.token_hex(6)
COOKIE = "geolocate_process"
# Streamlit's own reconnect keeps a dead process's page on screen, stale, without rerunning it (its rerun
# names a fragment the new process never had). The page therefore watches the server itself: every 2 s
# it asks for /_stcore/health; when a request fails and a later one succeeds (a restarted server), or
# the proxy answers from another backend than before (X-Geolocate-Backend, set by deploy/nginx.conf), it
# reloads once, and the new session says the page was reset.
WATCH_JS = """<script>
(() => {
  if (window.__geolocateWatch) return;
  window.__geolocateWatch = true;
  let lost = false, first = null;
  const last = (h) => (h || "").split(",").pop().trim();
  setInterval(async () => {
    try {
      const r = await fetch("/_stcore/health", {cache: "no-store"});
      const b = last(r.headers.get("X-Geolocate-Backend"));
      if (!r.ok) { lost = true; return; }
      if (first === null) first = b;
      if (lost || b !== first) location.reload();
    } catch (e) { lost = true; }
  }, 2000);
})();
</script>"""
NOTICE = "This page was reset: the server process that held it stopped, and you are now on another one. Anything kept on the server (your classroom name and guesses) is still there."


def cookie(name: str) -> str | None:
    """A cookie the browser sent with this session's first request (None when absent or not text)."""
    value = st.context.cookies.get(name)
    return value if isinstance(value, str) else None


def notice_if_reset() -> bool:
    """Show the reset notice once per session when this browser was served by another process; True then."""
    if "_reset_checked" in st.session_state:
        return bool(st.session_state["_reset_checked"])
    before = cookie(COOKIE)
    was_reset = bool(before) and before != PROCESS_ID
    st.session_state["_reset_checked"] = was_reset
    # A session cookie (no expiry): it names the process of this browser's current page.
    st.html(f"<script>document.cookie = '{COOKIE}={PROCESS_ID}; path=/; SameSite=Lax';</script>" + WATCH_JS, unsafe_allow_javascript=True)
    if was_reset:
        st.session_state["_reset_notice"] = True
    return was_reset


def show_notice() -> None:
    """The notice itself (plain text), while this session has not dismissed it."""
    if st.session_state.get("_reset_notice"):
        st.warning(NOTICE)
