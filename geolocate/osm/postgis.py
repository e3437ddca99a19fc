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

FEATURES_SQL = """
    SELECT 'n'::text AS t, osm_id AS id, tags, name, way AS g FROM planet_osm_point
    UNION ALL SELECT 'w', osm_id, tags, name, way FROM planet_osm_line WHERE osm_id > 0
    UNION ALL SELECT CASE WHEN osm_id > 0 THEN 'w' ELSE 'r' END, abs(osm_id), tags, name, ST_Boundary(way) FROM planet_osm_polygon
"""
"""Every feature osm2pgsql imported, as (type, id, tags, name, geometry): nodes, ways (lines and
polygon outlines) and multipolygon relations (outlines; route relations in the line table are left out)."""


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


def query_sql(query: Query) -> str:
    """One SQL statement returning (type, id, name, lat, lon) of the anchor features where the query holds."""
    where = [term_sql(query.anchor.term, "a")]
    for i, c in enumerate(query.clauses[1:]):
        b = f"b{i}"
        where.append(f"EXISTS (SELECT 1 FROM f {b} WHERE {term_sql(c.term, b)} AND ST_DWithin(a.g::geography, {b}.g::geography, {float(c.distance_m)!r}, false))")
    return (
        f"WITH f AS MATERIALIZED ({FEATURES_SQL}) "
        "SELECT a.t, a.id, a.name, ST_Y(ST_PointOnSurface(a.g)), ST_X(ST_PointOnSurface(a.g)) FROM f a WHERE "
        + " AND ".join(where)
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


__all__ = ["ENV", "FEATURES_SQL", "PgPlace", "connect", "pg_query", "query_sql", "term_sql"]
