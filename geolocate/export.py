"""Export ranked search regions as GeoJSON (RFC 7946), KML and CSV.

Every cell becomes a polygon in lon/lat degrees (WGS84) with its rank, H3 index, probability, area
(km²), density (per km²), the running totals, its name (the offline gazetteer's description of its
centre: "Lihue, Kauai, Hawaii, United States") and its candidate area (:mod:`geolocate.candidates`: id
1..5 and name; 0 and "" for a cell in none). Cells that cross the antimeridian are split into a
MultiPolygon at ±180° (RFC 7946 §3.1.9) so that GIS tools do not draw them the wrong way round the
globe; cells that contain a pole are closed along the pole.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import h3
import numpy as np
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon, box, mapping
from shapely.geometry.polygon import orient

from .distribution import RankedRegions

if TYPE_CHECKING:
    from .candidates import CandidateArea

PROPERTY_COLUMNS = ("rank", "h3", "prob", "area_km2", "density_per_km2", "cum_prob", "cum_area_km2", "name", "area_id", "area_name")
"""Properties of every exported region (GeoJSON properties, KML ExtendedData, CSV columns after lat/lon/resolution)."""


def region_annotations(regions: RankedRegions, names: Sequence[str] | None = None,
                areas: Sequence[CandidateArea] | None = None) -> tuple[list[str], list[int], list[str]]:
    """Each region's name, candidate area id and candidate area name.

    Args:
        regions: the ranked regions.
        names: a name per region, or None to ask the gazetteer (:func:`geolocate.candidates.region_names`).
        areas: the candidate areas, or None to group the regions here (without the experts' "why").

    Returns:
        (names, area ids (0: none), area names ("" for none)), one entry per region.
    """
    from .candidates import candidate_areas, region_area_ids, region_names

    if len(regions) == 0:
        return [], [], []
    names = list(names) if names is not None else region_names(regions)
    if len(names) != len(regions):
        raise ValueError(f"{len(names)} names for {len(regions)} regions")
    areas = list(areas) if areas is not None else candidate_areas(regions)
    ids = region_area_ids(regions, areas).tolist()
    by_id = {a.id: a.name for a in areas}
    return [str(n) for n in names], [int(i) for i in ids], [by_id.get(i, "") for i in ids]


def _pole_cells(res: int) -> set[str]:
    return {h3.latlng_to_cell(90.0, 0.0, res), h3.latlng_to_cell(-90.0, 0.0, res)}


def cell_geometry(cell: str) -> Polygon | MultiPolygon:
    """The cell's boundary as a shapely (Multi)Polygon in lon/lat degrees, split at the antimeridian.

    Args:
        cell: H3 index as a string.

    Returns:
        A Polygon with a counter-clockwise exterior ring, or a MultiPolygon of the parts east and west
        of ±180° when the cell crosses it.
    """
    ring = np.array(h3.cell_to_boundary(cell), dtype=np.float64)  # (k, 2) lat, lon
    lat, lon = ring[:, 0], ring[:, 1]
    if cell in _pole_cells(h3.get_resolution(cell)):
        # The boundary circles the pole: sort it by longitude and close the ring along the pole.
        pole = 90.0 if lat.mean() > 0 else -90.0
        order = np.argsort(lon)
        lo, la = lon[order], lat[order]
        # The edge crossing ±180° is cut at the meridian by linear interpolation in lon.
        span = lo[0] + 360.0 - lo[-1]
        t = (180.0 - lo[-1]) / span if span > 0 else 0.5
        lat180 = la[-1] + t * (la[0] - la[-1])
        coords = [(-180.0, lat180), *zip(lo, la), (180.0, lat180), (180.0, pole), (-180.0, pole)]
        return orient(Polygon(coords), 1.0)
    if lon.max() - lon.min() <= 180.0:
        return orient(Polygon(zip(lon, lat)), 1.0)
    # Crosses the antimeridian: unwrap to [0, 360) and cut at 180°.
    unwrapped = Polygon(zip(np.where(lon < 0, lon + 360.0, lon), lat))
    east = unwrapped.intersection(box(0.0, -90.0, 180.0, 90.0))
    west = affinity.translate(unwrapped.intersection(box(180.0, -90.0, 540.0, 90.0)), xoff=-360.0)
    parts = [p for g in (east, west) for p in getattr(g, "geoms", [g]) if isinstance(p, Polygon) and not p.is_empty and p.area > 0]
    if len(parts) == 1:
        return orient(parts[0], 1.0)
    return MultiPolygon([orient(p, 1.0) for p in parts])


def _records(regions: RankedRegions, names: Sequence[str] | None = None, areas: Sequence[CandidateArea] | None = None) -> list[dict]:
    frame = regions.to_frame()
    region_name, area_id, area_name = region_annotations(regions, names, areas)
    return [
        {
            "rank": int(r.rank),
            "h3": str(r.h3),
            "prob": float(r.prob),
            "area_km2": float(r.area_km2),
            "density_per_km2": float(r.density_per_km2),
            "cum_prob": float(r.cum_prob),
            "cum_area_km2": float(r.cum_area_km2),
            "name": region_name[i],
            "area_id": area_id[i],
            "area_name": area_name[i],
        }
        for i, r in enumerate(frame.itertuples(index=False))
    ]


def regions_to_geojson(regions: RankedRegions, names: Sequence[str] | None = None, areas: Sequence[CandidateArea] | None = None) -> dict:
    """Ranked regions as a GeoJSON FeatureCollection (RFC 7946, lon/lat degrees).

    Args:
        regions: cells in rank order (e.g. ``CellDistribution.within_budget(...)``).
        names: a name per region (None: the gazetteer's, see :func:`region_annotations`).
        areas: the candidate areas (None: grouped here).

    Returns:
        A dict with one Feature per cell; properties rank, h3, prob, area_km2 (km²), density_per_km2,
        cum_prob, cum_area_km2 (km²), name, area_id and area_name. Antimeridian-crossing cells are
        MultiPolygons.
    """
    features = []
    for props in _records(regions, names, areas):
        geom = mapping(cell_geometry(props["h3"]))
        features.append({"type": "Feature", "geometry": _listify(geom), "properties": props})
    return {"type": "FeatureCollection", "features": features}


def _listify(geom: dict) -> dict:
    """Turn the tuples of shapely's mapping() into lists, as JSON has them (tests compare with parsed JSON)."""

    def conv(x):
        return [conv(v) for v in x] if isinstance(x, (list, tuple)) else float(x)

    return {"type": geom["type"], "coordinates": conv(geom["coordinates"])}


def regions_to_csv(regions: RankedRegions, names: Sequence[str] | None = None, areas: Sequence[CandidateArea] | None = None) -> str:
    """Write ranked regions as CSV text, one row per cell in rank order.

    Columns: rank, h3, lat, lon (cell centre, degrees), resolution, prob, area_km2 (km²),
    density_per_km2 (probability per km²), cum_prob, cum_area_km2 (km²), name, area_id, area_name.

    Args:
        regions: the ranked regions to write.
        names: a name per region (None: the gazetteer's).
        areas: the candidate areas (None: grouped here).

    Returns:
        The CSV text, with a header row.
    """
    frame = regions.to_frame()
    frame["name"], frame["area_id"], frame["area_name"] = region_annotations(regions, names, areas)
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.8g")
    return buf.getvalue()


def _kml_ring(poly: Polygon) -> str:
    coords = " ".join(f"{x:.6f},{y:.6f},0" for x, y in poly.exterior.coords)
    return f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{coords}</coordinates></LinearRing></outerBoundaryIs></Polygon>"


KML_BANDS = ((0.25, "ff3cd7ff", "first quarter of the probability"), (0.5, "ff1e96f5", "second quarter"), (0.75, "ff4248d4", "third quarter"), (1.01, "ff6e1565", "the rest"))
"""Rank bands of the KML styles: (cumulative probability up to, KML colour aabbggrr, legend)."""


def regions_to_kml(regions: RankedRegions, name: str = "geolocate search regions", names: Sequence[str] | None = None,
                   areas: Sequence[CandidateArea] | None = None) -> str:
    """Ranked regions as a KML 2.2 document styled by rank, in one folder per candidate area.

    One Placemark per cell (MultiGeometry when split at ±180°), named "#rank name", with the properties
    as ExtendedData; the placemarks of each candidate area sit in a Folder named "Area N: name (p %)"
    (cells in no area: a last folder "Other regions"), so Google Earth lists the search plan. Cells
    are styled by the band of the cumulative probability they fall in (:data:`KML_BANDS`): the regions
    that hold the first quarter of the probability are bright yellow, the last ones dark purple, so the
    search order reads in Google Earth.
    """
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>',
        f"<name>{escape(name)}</name>",
    ]
    for i, (_, colour, label) in enumerate(KML_BANDS):
        fill = "99" + colour[2:]
        out.append(
            f'<Style id="band{i}"><LineStyle><color>{colour}</color><width>1.5</width></LineStyle>'
            f"<PolyStyle><color>{fill}</color></PolyStyle><BalloonStyle><text>{escape(label)}: $[description]</text></BalloonStyle></Style>"
        )
    limits = [b[0] for b in KML_BANDS]
    records = _records(regions, names, areas)
    folders: dict[int, list[str]] = {}
    for props in records:
        geom = cell_geometry(props["h3"])
        if isinstance(geom, MultiPolygon):
            body = "<MultiGeometry>" + "".join(_kml_ring(p) for p in geom.geoms) + "</MultiGeometry>"
        else:
            body = _kml_ring(geom)
        # The band of the probability held before this cell: the first cell is always in band 0.
        before = props["cum_prob"] - props["prob"]
        band = next(i for i, lim in enumerate(limits) if before < lim)
        data = "".join(f'<Data name="{k}"><value>{escape(_fmt(v))}</value></Data>' for k, v in props.items())
        desc = f"probability {props['prob']:.3%}, area {props['area_km2']:,.0f} km², cumulative {props['cum_prob']:.1%} in {props['cum_area_km2']:,.0f} km²"
        label = f"#{props['rank']} {props['name']}".strip()
        folders.setdefault(props["area_id"], []).append(
            f"<Placemark><name>{escape(label)}</name><description>{escape(desc)}</description>"
            f"<styleUrl>#band{band}</styleUrl><ExtendedData>{data}</ExtendedData>{body}</Placemark>"
        )
    area_prob: dict[int, float] = {}
    area_title: dict[int, str] = {}
    for props in records:
        area_prob[props["area_id"]] = area_prob.get(props["area_id"], 0.0) + props["prob"]
        area_title[props["area_id"]] = props["area_name"]
    for aid in sorted(folders, key=lambda a: (a == 0, a)):
        title = f"Area {aid}: {area_title[aid]} ({area_prob[aid]:.1%})" if aid else "Other regions"
        out.append(f"<Folder><name>{escape(title)}</name>" + "".join(folders[aid]) + "</Folder>")
    out.append("</Document></kml>")
    return "\n".join(out)


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.8g}"
    return str(v)
