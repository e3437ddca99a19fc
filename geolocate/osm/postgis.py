"""The same queries against PostGIS, for a continent or the planet imported with osm2pgsql.

Import (once)::

    createdb osm && psql -d osm -c 'CREATE EXTENSION postgis; CREATE EXTENSION hstore'
    osm2pgsql -d osm --latlong --hstore-all --slim [--flat-nodes nodes.bin] EXTRACT.osm.pbf

``--latlong`` keeps geometries in EPSG:4326 and ``--hstore-all`` keeps every tag in ``tags``, which the
presets read. The connection string comes from ``GEOLOCATE_OSM_PG`` (a libpq DSN such as
``host=/tmp port=5432 dbname=osm user=postgres`` or ``postgresql://...``).

Semantics are those of :mod:`.query`: a feature is a point, a line or a polygon's outline
(``ST_Boundary``, so a point inside a polygon is measured to its outline), distances are great-circle on
the sphere (``ST_DWithin(geography, geography, d, false)``). One difference: here an anchor feature
matches when each clause holds somewhere on it, while the embedded store asks for one anchor point
where all clauses hold at once (the same for nodes, and for compact anchors in practice).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .presets import BY_NAME
from .query import Query, parse_query

ENV = "GEOLOCATE_OSM_PG"

TABLES = (
    ("planet_osm_point", "'n'", "way", "TRUE"),
    ("planet_osm_line", "'w'", "way", "{t}.osm_id > 0"),
    ("planet_osm_polygon", "CASE WHEN {t}.osm_id > 0 THEN 'w' ELSE 'r' END", "ST_Boundary({t}.way)", "TRUE"),
)
"""(table, OSM type expression, feature geometry, row filter) of the osm2pgsql tables read: nodes, ways
(lines and polygon outlines) and multipolygon relations (outlines); route relations in the line table
(negative ids) are left out, as the embedded store leaves them out."""

DEG_M = 110_000.0
"""Metres per degree used to widen bounding boxes (less than any degree of latitude: generous)."""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def term_sql(term: str, alias: str) -> str:
    """SQL condition on ``alias.tags`` for a preset name or ``key=value`` term."""
    if "=" in term:
        k, _, v = term.partition("=")
        if v == "*":
            return f"({alias}.tags ? {_literal(k)})"
        return f"({alias}.tags -> {_literal(k)} = {_literal(v)})"
    p = BY_NAME[term]
    alts = []
    for alt in p.alternatives:
        conds = []
        for k, vals in alt:
            col = f"({alias}.tags -> {_literal(k)})"
            if vals is None:
                conds.append(f"({col} IS NOT NULL AND {col} <> 'no')")
            else:
                conds.append(f"{col} IN ({', '.join(_literal(v) for v in vals)})")
        alts.append("(" + " AND ".join(conds) + ")")
    return "(" + " OR ".join(alts) + ")"


def _near(term: str, distance_m: float, alias: str) -> str:
    """EXISTS over the three tables: a feature of ``term`` within ``distance_m`` of anchor ``a``.

    The ``&&`` test against the anchor's box widened by the distance uses osm2pgsql's GiST index on
    ``way``; the exact test is ST_DWithin on the sphere.
    """
    d = float(distance_m)
    box = f"ST_Expand(a.way, {d / DEG_M!r} / greatest(cos(radians(least(89.0, greatest(abs(ST_YMin(a.way)), abs(ST_YMax(a.way)))))), 0.01), {d / DEG_M!r})"
    parts = []
    for table, _, geom, cond in TABLES:
        t = f"{alias}_{table.rsplit('_', 1)[1]}"
        parts.append(
            f"EXISTS (SELECT 1 FROM {table} {t} WHERE {t}.way && {box} AND {cond.format(t=t)} AND {term_sql(term, t)} "
            f"AND ST_DWithin(a.g::geography, ({geom.format(t=t)})::geography, {d!r}, false))"
        )
    return "(" + " OR ".join(parts) + ")"


def query_sql(query: Query) -> str:
    """One SQL statement returning (type, id, name, lat, lon) of the anchor features where the query holds."""
    anchors = " UNION ALL ".join(
        f"SELECT {typ.format(t='x')} AS t, abs(x.osm_id) AS id, x.name, x.way, {geom.format(t='x')} AS g FROM {table} x "
        f"WHERE {cond.format(t='x')} AND {term_sql(query.anchor.term, 'x')}"
        for table, typ, geom, cond in TABLES
    )
    where = [_near(c.term, c.distance_m or 0.0, f"b{i}") for i, c in enumerate(query.clauses[1:])]
    return (
        f"WITH a AS MATERIALIZED ({anchors}) "
        "SELECT a.t, a.id, a.name, ST_Y(ST_PointOnSurface(a.g)), ST_X(ST_PointOnSurface(a.g)) FROM a"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY a.t, a.id"
    )


@dataclass(frozen=True)
class PgPlace:
    """A matching anchor feature from PostGIS.

    Attributes:
        osm_type: ``n``, ``w`` or ``r``.
        osm_id: the OSM id.
        name: its name tag, or "".
        lat: a point on it, degrees.
        lon: a point on it, degrees.
    """

    osm_type: str
    osm_id: int
    name: str
    lat: float
    lon: float


def connect(dsn: str | None = None) -> Any:
    """A psycopg connection to ``dsn`` (default ``GEOLOCATE_OSM_PG``).

    Raises:
        RuntimeError: no DSN given and the variable is unset, or psycopg is not installed.
    """
    dsn = dsn or os.environ.get(ENV)
    if not dsn:
        raise RuntimeError(f"no PostGIS connection: set {ENV} to a libpq connection string (e.g. 'dbname=osm')")
    try:
        import psycopg
    except ImportError as err:  # pragma: no cover - optional dependency
        raise RuntimeError("PostGIS queries need psycopg: pip install 'psycopg[binary]'") from err
    return psycopg.connect(dsn)


def pg_query(text: str | Query, conn: Any = None, dsn: str | None = None) -> list[PgPlace]:
    """Places where a query holds, from an osm2pgsql database.

    Args:
        text: the query (syntax of :func:`geolocate.osm.query.parse_query`).
        conn: an open psycopg connection; else one is opened from ``dsn`` / ``GEOLOCATE_OSM_PG``.
        dsn: connection string when ``conn`` is None.

    Raises:
        QueryError: the query cannot be read.
    """
    query = parse_query(text) if isinstance(text, str) else text
    own = conn is None
    conn = conn or connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(query_sql(query))  # every value is a literal built by term_sql / a float
            rows = cur.fetchall()
    finally:
        if own:
            conn.close()
    return [PgPlace(str(t), int(i), str(n or ""), float(la), float(lo)) for t, i, n, la, lo in rows]


__all__ = ["ENV", "TABLES", "PgPlace", "connect", "pg_query", "query_sql", "term_sql"]
