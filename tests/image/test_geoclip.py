"""GeoCLIP expert: peer checks against the reference geoclip.GeoCLIP, grid density, refinement, cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geolocate.grid import children, global_grid
from geolocate.image.backbone import build_backbone, hf_clip_vision_to_open_clip
from geolocate.image.geoclip_expert import GeoCLIPExpert, GeoCLIPHead
from geolocate.image.photo import load_photo

from .conftest import KAUAI


@pytest.fixture(scope="module")
def reference():
    """geoclip.GeoCLIP with the wheel's head/location encoder and a random HF CLIP (no download)."""
    from geoclip import GeoCLIP

    torch.manual_seed(0)
    return GeoCLIP(from_pretrained=True, clip_pretrained=False).eval()


@pytest.mark.slow
@pytest.mark.peer
def test_peer_same_embedding_same_top5(reference, head):
    """(a) Given the same image embedding, our top-5 gallery points and probabilities equal the reference's."""
    e = torch.from_numpy(np.random.default_rng(1).normal(size=(1, 768)).astype(np.float32))
    clip = reference.image_encoder.CLIP
    clip.get_image_features = lambda pixel_values: e  # the reference's own predict(), fed our embedding
    try:
        gps, prob = reference.predict(str(KAUAI), 5)
    finally:
        del clip.get_image_features
    ours = GeoCLIPExpert(head, e.numpy())
    our_gps, our_prob = ours.top_gallery(5)
    np.testing.assert_array_equal(our_gps, gps.numpy().astype(np.float64))
    np.testing.assert_allclose(our_prob, prob.numpy(), atol=1e-4)
    assert prob[0] > prob[4] > 0


@pytest.mark.slow
@pytest.mark.peer
def test_peer_end_to_end_kauai(reference, head):
    """(b) The reference's random HF CLIP converted into our open_clip ViT-L-14: same embedding, same top-5."""
    bb = build_backbone("ViT-L-14/openai")  # architecture only: no checkpoint is loaded here
    assert bb.random and bb.embed_dim == 768
    state = hf_clip_vision_to_open_clip(reference.image_encoder.CLIP.state_dict(), 24)
    bb.model.visual.load_state_dict(state, strict=True)
    gps, prob = reference.predict(str(KAUAI), 5)
    photo = load_photo(KAUAI.read_bytes(), "Kauai.png")
    emb = bb.encode_images([photo.image])
    with torch.no_grad():
        pix = reference.image_encoder.preprocess_image(photo.image)
        ref_emb = reference.image_encoder.CLIP.get_image_features(pixel_values=pix)
        ref_emb = ref_emb if isinstance(ref_emb, torch.Tensor) else ref_emb.pooler_output
    np.testing.assert_allclose(emb, ref_emb.numpy(), rtol=1e-3, atol=1e-4)
    our_gps, our_prob = GeoCLIPExpert(head, emb).top_gallery(5)
    np.testing.assert_array_equal(our_gps, gps.numpy().astype(np.float64))
    np.testing.assert_allclose(our_prob, prob.numpy(), atol=1e-4)


@pytest.fixture(scope="module")
def expert(head):
    e = np.random.default_rng(2).normal(size=(1, 768)).astype(np.float32)
    return GeoCLIPExpert(head, e)


@pytest.mark.peer
def test_base_grid_distribution(expert):
    g = global_grid(3)
    ld = expert.log_density(g)
    assert ld.shape == (len(g),) and np.isfinite(ld).all()
    mass = np.exp(ld) * g.area_km2
    assert mass.sum() == pytest.approx(1.0, abs=1e-6)  # float32 softmax over the gallery
    # the gallery's top point lies in (one of) the heaviest cells
    (lat, lon), _ = expert.top_gallery(1)[0][0], None
    top_cell = g.locate(np.array([lat]), np.array([lon]))[0]
    assert mass[top_cell] >= np.sort(mass)[-20]
    # 90 % of the mass is the gallery's, so at least that much sits in cells with gallery points
    has_gallery = np.bincount(expert.head.gallery_cells(3), minlength=len(g)) > 0
    assert mass[has_gallery].sum() > 0.9


@pytest.mark.peer
def test_refinement_conserves_parent_mass_and_is_sharp(expert):
    g = global_grid(3)
    ld = expert.log_density(g)
    top = g.cells[np.argsort(-ld)[:3]]
    kids, owner = children(top, 4)
    kd = expert.log_density(kids)
    for j in range(len(top)):
        sel = owner == j
        # mean density of the seven children equals the parent's (the normaliser is their log-mean-exp)
        assert np.log(np.mean(np.exp(kd[sel]))) == pytest.approx(ld[g.index_of(top[j : j + 1])][0], abs=1e-9)
        assert np.ptp(kd[sel]) > 0  # children differ: the encoder was evaluated at their centres
    fine, _ = children(top[:1], 6)
    fd = expert.log_density(fine)
    assert np.isfinite(fd).all() and np.ptp(fd) > np.ptp(kd[owner == 0]) * 0.5


@pytest.mark.peer
def test_album_is_product(head):
    e = np.random.default_rng(3).normal(size=(2, 768)).astype(np.float32)
    album = GeoCLIPExpert(head, e)
    g = global_grid(3)
    kids, _ = children(g.cells[:2], 5)
    for cells in (g, kids):
        single = GeoCLIPExpert(head, e[:1]).log_density(cells) + GeoCLIPExpert(head, e[1:]).log_density(cells)
        np.testing.assert_allclose(album.log_density(cells), single, rtol=0, atol=1e-4)  # float32 scores, batched differently
    assert "album of 2 photos" in album.describe()


@pytest.mark.peer
def test_in_ensemble_with_priors(expert):
    from geolocate.ensemble import Ensemble
    from geolocate.experts import UniformLandPrior

    ens = Ensemble([UniformLandPrior(), expert])
    d = ens.distribution(refine_to=5, refine_cells=50)
    assert (d.cells.resolution == 5).sum() > 0
    lat, lon = d.mode()
    top = expert.top_gallery(20)[0]
    from geolocate.experts import haversine_km

    assert haversine_km(lat, lon, top[:, 0], top[:, 1]).min() < 300


def test_feature_cache_keyed_and_corruption_recomputed(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(tmp_path))
    h = GeoCLIPHead()
    h.gallery = h.gallery[:500]  # a subset keeps this test fast; the real gallery is cached the same way
    f = h.gallery_features()
    path = tmp_path / f"geoclip_gallery100k_{h.key}.npy"
    assert path.exists() and f.shape == (500, 512)
    np.testing.assert_allclose(np.linalg.norm(f.numpy(), axis=1), 1.0, rtol=1e-5)
    path.write_bytes(b"garbage")
    h2 = GeoCLIPHead()
    h2.gallery = h2.gallery[:500]
    np.testing.assert_allclose(h2.gallery_features().numpy(), f.numpy(), rtol=1e-6, atol=1e-6)
    assert len(h.key) == 16 and h.key == h2.key


def test_tiny_head_is_generated_fast_and_in_memory(monkeypatch, tmp_path):
    """The generated head (tests' default through GEOLOCATE_GEOCLIP) writes nothing and gives a proper density."""
    import time

    from geolocate.image.geoclip_expert import load_geoclip_head

    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(tmp_path))
    global_grid(3)  # the grid itself may be cached; the head's features must not be
    before = set(tmp_path.iterdir())
    t0 = time.perf_counter()
    h = load_geoclip_head("tiny-random")
    e = GeoCLIPExpert(h, np.random.default_rng(3).normal(size=(1, 768)).astype(np.float32))
    took = time.perf_counter() - t0
    assert h.random and not h.disk_cache and h.gallery.shape == (2000, 2) and load_geoclip_head("tiny-random") is h
    assert set(tmp_path.iterdir()) == before  # no feature cache on disk
    g = global_grid(3)
    mass = np.exp(e.log_density(g)) * g.area_km2
    assert mass.sum() == pytest.approx(1.0, rel=1e-6) and mass.max() < 0.5
    assert took < 30  # generous for a loaded machine; the real head's first build takes minutes
    with pytest.raises(ValueError, match=r"GEOLOCATE_GEOCLIP must be 'wheel' or 'tiny-random', got 'nonsense'"):
        load_geoclip_head("nonsense")


def test_corrupt_wheel_weights_are_weights_missing(monkeypatch, tmp_path):
    from geolocate.image import geoclip_expert
    from geolocate.image.weights import WeightsMissing, geoclip_weights_files

    files = dict(geoclip_weights_files())
    bad = tmp_path / "location_encoder_weights.pth"
    bad.write_bytes(b"PK\x03\x04 not a torch file")
    files["location_encoder"] = bad
    monkeypatch.setattr(geoclip_expert, "geoclip_weights_files", lambda: files)
    with pytest.raises(WeightsMissing, match=r"location_encoder_weights\.pth is unreadable or corrupt") as err:
        GeoCLIPHead()
    assert err.value.fix == "pip install --force-reinstall geoclip==1.3.0"


def test_gallery_override(monkeypatch, tmp_path):
    csv = tmp_path / "g.csv"
    csv.write_text("LAT,LON\n48.85,2.35\n-33.87,151.21\n")
    monkeypatch.setenv("GEOLOCATE_GALLERY", str(csv))
    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(tmp_path))
    h = GeoCLIPHead()
    np.testing.assert_allclose(h.gallery.numpy(), [[48.85, 2.35], [-33.87, 151.21]], rtol=1e-6)
    assert h.gallery_features().shape == (2, 512) and (tmp_path / f"geoclip_gallery100k_{h.key}.npy").exists()
    csv.write_text("nothing useful\n")
    with pytest.raises(Exception, match=r"g\.csv is not a CSV with LAT and LON columns"):
        GeoCLIPHead()
