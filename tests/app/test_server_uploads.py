"""Uploads stay in memory: a real `streamlit run` server, a 3.5 MB photo through the real upload endpoint
(headless Chromium), and an inotify watch on the server's temp folder during the upload."""

from __future__ import annotations

import pytest
from serverproc import CHROMIUM, CHROMIUM_ARGS, DirWatch, need_browser, noisy_jpeg, streamlit_server

pytestmark = pytest.mark.e2e

PHOTO_BYTES = 3_500_000


def _upload_and_watch(url: str, photo_path, watch_dir) -> list:
    """Open ``url``, upload ``photo_path`` with the page's file uploader, return the temp-folder events."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url, wait_until="domcontentloaded")
            dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
            expect(dropzone).to_be_attached(timeout=120_000)
            watch = DirWatch(watch_dir)
            try:
                with page.expect_response(lambda r: "/_stcore/upload_file/" in r.url and r.request.method == "PUT", timeout=120_000) as resp:
                    dropzone.set_input_files(str(photo_path))
                assert resp.value.status == 204, resp.value.status  # the server accepted the whole photo
                return watch.events()
            finally:
                watch.close()
        finally:
            browser.close()


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "big.jpg"  # the test's own file, for the browser's file chooser
    path.write_bytes(noisy_jpeg(PHOTO_BYTES))
    assert path.stat().st_size >= PHOTO_BYTES
    return path


def test_app_upload_of_3_5_mb_photo_writes_nothing_to_temp(tmp_path, photo):
    need_browser()
    server_tmp = tmp_path / "server-tmp"
    server_tmp.mkdir()
    with streamlit_server("app.py", env={"TMPDIR": str(server_tmp)}, log=tmp_path / "server.log") as url:
        events = _upload_and_watch(url, photo, server_tmp)
    assert events == [], f"the server wrote to its temp folder during the upload: {events[:5]}"
    assert list(server_tmp.iterdir()) == []


def test_watch_sees_spooling_of_an_unpatched_server(tmp_path, photo):
    """Control: a bare uploader app (without the app's fix) spools the same photo to the temp folder,
    so the watch above can see a spooled upload and the fix is what keeps it in memory."""
    need_browser()
    server_tmp = tmp_path / "server-tmp"
    server_tmp.mkdir()
    script = tmp_path / "bare_uploader.py"
    script.write_text('import streamlit as st\nst.file_uploader("Photo")\n')
    with streamlit_server(script, env={"TMPDIR": str(server_tmp)}, log=tmp_path / "server.log") as url:
        events = _upload_and_watch(url, photo, server_tmp)
    assert any(mask & (DirWatch.IN_MODIFY | DirWatch.IN_CLOSE_WRITE) for _, _, mask in events), events


def test_keep_uploads_in_memory_raises_the_spool_threshold(monkeypatch):
    from starlette.formparsers import MultiPartParser

    from geolocate.settings import UPLOAD_FRAMING_BYTES, keep_uploads_in_memory

    monkeypatch.setattr(MultiPartParser, "spool_max_size", 1024 * 1024)
    keep_uploads_in_memory(25)
    assert MultiPartParser.spool_max_size == 25 * 1024 * 1024 + UPLOAD_FRAMING_BYTES
    keep_uploads_in_memory(2)  # never lowers it (another caller may need more)
    assert MultiPartParser.spool_max_size == 25 * 1024 * 1024 + UPLOAD_FRAMING_BYTES
