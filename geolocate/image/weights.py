"""Model weights: where they live, whether they are here, and how to get them.

* The weights directory is ``GEOLOCATE_WEIGHTS_DIR`` if set, else ``<user data dir>/geolocate/weights``
  (``~/.local/share/geolocate/weights`` on Linux). Copy it from a connected machine to an air-gapped one.
* Offline mode (``GEOLOCATE_OFFLINE=1``, or ``HF_HUB_OFFLINE=1``) never touches the network: missing
  weights raise :class:`WeightsMissing`, whose message names what is missing and the command that
  fetches it (``python -m geolocate weights download`` on a connected machine).
* Online, open_clip's own ``pretrained`` mechanism downloads through ``huggingface_hub`` (with its
  progress bars) into the weights directory, in the Hub cache layout. ``huggingface_hub`` resumes an
  interrupted transfer with a Range request and checks the size; we then check the file's sha256
  against its blob name (the Hub's ETag for LFS files), delete a corrupt file and fetch it once more.
* Whether the hub answers is checked once per process (:func:`hub_reachable`, at most
  :data:`HUB_CHECK_TIMEOUT_S` seconds) and remembered, so an unreachable hub costs one short wait, not
  one per upload. ``HF_ENDPOINT`` points at a mirror.

A backbone is named by a spec ``ARCH/TAG``: an open_clip architecture and a pretrained tag
(``ViT-L-14/openai``), or a checkpoint file (``ViT-L-14/path/to/weights.safetensors``). A file
``<weights dir>/<ARCH>-<TAG>.safetensors`` (or ``.bin``, ``.pt``, ``.pth``) is used before the Hub cache,
for analysts who copy single files around. The spec ``tiny-random`` is a tiny randomly initialised
model for tests and plumbing demos: its outputs mean nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BACKBONE = "ViT-L-14/openai"
"""open_clip ViT-L/14 with OpenAI's weights: the same weights as Hugging Face ``openai/clip-vit-large-patch14``,
whose 768-d image embedding GeoCLIP's head was trained on."""

TINY_RANDOM = "tiny-random"
"""Spec of the tiny random backbone (tests and demos of the plumbing only)."""

TINY_ARCH = "geolocate-tiny"
"""open_clip config name of the tiny architecture (model_configs/geolocate-tiny.json; 768-d embedding)."""

_LOCAL_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")

HUB_CHECK_TIMEOUT_S = 3.0
"""Longest wait, in seconds, for the one reachability check of the model hub per process."""

_HUB_STATE: dict[str, tuple[bool, str]] = {}
_HUB_LOCK = threading.Lock()


class WeightsMissing(RuntimeError):
    """Weights are not available locally and may not be downloaded.

    Attributes:
        what: the missing item, e.g. "open_clip ViT-L-14 (openai) weights".
        fix: one command that gets them.
    """

    def __init__(self, what: str, detail: str, fix: str):
        self.what, self.detail, self.fix = what, detail, fix
        super().__init__(f"{what} missing: {detail}. Fix: {fix}")


@dataclass
class WeightStatus:
    """One line of ``weights status``.

    Attributes:
        name: what the weights are.
        available: whether they can be used now without network.
        detail: where they are, or what is missing.
        fix: one-line command that makes them available ("" when available).
    """

    name: str
    available: bool
    detail: str
    fix: str = ""


def weights_dir() -> Path:
    """The local weights directory (``GEOLOCATE_WEIGHTS_DIR`` overrides the per-user default); created if needed.

    Never raises: when the folder cannot be created or is not a folder, it is still returned and
    :func:`weights_dir_problem` says why (lookups then find nothing, downloads are refused with that message).
    """
    env = os.environ.get("GEOLOCATE_WEIGHTS_DIR")
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("geolocate")) / "weights"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # reported by weights_dir_problem()
    return path


def weights_dir_problem() -> str | None:
    """Why the weights directory cannot be used (not a folder, cannot be created, not readable), or None."""
    path = weights_dir()
    try:
        if not path.exists():
            return f"the weights directory {path} does not exist and cannot be created"
        if not path.is_dir():
            return f"the weights directory {path} is a file, not a folder"
        os.listdir(path)
    except OSError as err:
        return f"the weights directory {path} cannot be read ({err.strerror or type(err).__name__})"
    return None


_DIR_FIX = "set GEOLOCATE_WEIGHTS_DIR to a folder you can read and write"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def offline() -> bool:
    """True when the network must not be used (``GEOLOCATE_OFFLINE`` or ``HF_HUB_OFFLINE``)."""
    return _truthy(os.environ.get("GEOLOCATE_OFFLINE")) or _truthy(os.environ.get("HF_HUB_OFFLINE"))


def default_backbone_spec() -> str:
    """``GEOLOCATE_BACKBONE`` if set, else :data:`DEFAULT_BACKBONE`."""
    return os.environ.get("GEOLOCATE_BACKBONE") or DEFAULT_BACKBONE


class BackboneSpecError(WeightsMissing, ValueError):
    """A backbone spec that names no backbone.

    It is a usage error, but also a :class:`WeightsMissing` so that callers that handle missing weights
    show it too.
    """

    def __init__(self, spec: str, detail: str):
        self.spec = spec
        super().__init__(f"backbone {spec!r}", detail, f"use --backbone {DEFAULT_BACKBONE} (or ARCH/TAG, a checkpoint file, or {TINY_RANDOM!r})")
        self.args = (f"unknown backbone {spec!r}: {detail}. Fix: {self.fix}",)

    def __str__(self) -> str:
        return self.args[0]


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``ARCH/TAG`` (TAG may be a file path containing slashes) into (arch, tag).

    Raises:
        BackboneSpecError: not of that form, or an architecture open_clip does not know.
    """
    if spec == TINY_RANDOM:
        return TINY_ARCH, ""
    arch, _, tag = (spec or "").partition("/")
    if not arch or not tag:
        raise BackboneSpecError(spec, f"a backbone is ARCH/TAG (e.g. {DEFAULT_BACKBONE}) or {TINY_RANDOM!r}")
    import open_clip

    if arch != TINY_ARCH and arch not in open_clip.list_models():
        close = [m for m in open_clip.list_models() if m.lower() == arch.lower()]
        hint = f"; did you mean {close[0]}?" if close else ""
        raise BackboneSpecError(spec, f"open_clip has no architecture {arch!r}{hint}")
    return arch, tag


def backbone_arg(text: str) -> str:
    """Check a ``--backbone`` value (an argparse ``type``).

    Args:
        text: the backbone spec as given on the command line.

    Returns:
        ``text`` unchanged when it is a valid spec.

    Raises:
        argparse.ArgumentTypeError: the spec names no backbone; the message says what is wrong.
    """
    import argparse

    try:
        parse_spec(text)
    except BackboneSpecError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def backbone_label(spec: str) -> str:
    """Human-readable name of a backbone spec; says RANDOM for the tiny random backbone.

    Raises:
        BackboneSpecError: the spec names no backbone.
    """
    arch, tag = parse_spec(spec)
    if spec == TINY_RANDOM:
        return "tiny RANDOM open_clip backbone (plumbing demo, not a prediction)"
    return f"open_clip {arch} ({Path(tag).name if os.sep in tag else tag}) weights"


def fetch_command(spec: str) -> str:
    """The command that downloads a backbone's weights, for "Fix:" hints of missing weights.

    Args:
        spec: the backbone spec; the default backbone needs no ``--backbone`` option.
    """
    extra = "" if spec == DEFAULT_BACKBONE else f" --backbone {spec}"
    return f"python -m geolocate weights download{extra}  (on a connected machine, then copy {weights_dir()} here or set GEOLOCATE_WEIGHTS_DIR)"


def _hub_files(arch: str, tag: str) -> list[tuple[str, str]]:
    """(repo_id, filename) candidates of a pretrained tag on the Hugging Face Hub, safetensors first."""
    from open_clip.pretrained import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME, get_pretrained_cfg

    cfg = get_pretrained_cfg(arch, tag)
    hub = (cfg or {}).get("hf_hub", "")
    if not hub:
        return []
    repo, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub.rstrip("/"), "")
    if not filename:
        return [(repo, HF_SAFE_WEIGHTS_NAME), (repo, HF_WEIGHTS_NAME)]
    out = [(repo, filename)]
    if filename.endswith((".bin", ".pth")):
        out.insert(0, (repo, filename[:-4] + ".safetensors"))
    return out


def find_checkpoint(spec: str) -> str | None:
    """Path of a local checkpoint for ``spec`` (never uses the network), or None."""
    if spec == TINY_RANDOM:
        return None
    arch, tag = parse_spec(spec)
    if os.path.isfile(os.path.expanduser(tag)):
        return os.path.expanduser(tag)
    root = weights_dir()
    if weights_dir_problem():
        return None
    for suffix in _LOCAL_SUFFIXES:
        p = root / f"{arch}-{tag}{suffix}"
        if p.is_file():
            return str(p)
    from huggingface_hub import try_to_load_from_cache

    for repo, filename in _hub_files(arch, tag):
        hit = try_to_load_from_cache(repo, filename, cache_dir=str(root))
        if isinstance(hit, str) and os.path.isfile(hit):
            return hit
    return None


def resolve_checkpoint(spec: str, allow_download: bool | None = None) -> str | None:
    """Local checkpoint path for ``spec``, downloading it first when allowed.

    Args:
        spec: backbone spec (see module docstring).
        allow_download: default: allowed unless :func:`offline`.

    Returns:
        The checkpoint path, or None for :data:`TINY_RANDOM` (random init, no file).

    Raises:
        WeightsMissing: not available locally and downloading is not allowed (or failed).
    """
    if spec == TINY_RANDOM:
        return None
    found = find_checkpoint(spec)
    if found:
        return found
    arch, tag = parse_spec(spec)
    what = backbone_label(spec)
    if os.sep in tag or tag.endswith(_LOCAL_SUFFIXES):
        raise WeightsMissing(what, f"checkpoint file {tag} does not exist", f"check the path, or use --backbone {DEFAULT_BACKBONE}")
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg

    cfg = get_pretrained_cfg(arch, tag)
    if not cfg:
        raise WeightsMissing(what, f"open_clip knows no pretrained tag {tag!r} for {arch}", f"use --backbone {DEFAULT_BACKBONE}")
    if allow_download is None:
        allow_download = not offline()
    problem = weights_dir_problem()
    if problem:
        raise WeightsMissing(what, problem, _DIR_FIX)
    if not allow_download:
        raise WeightsMissing(
            what,
            f"not found in the weights directory {weights_dir()} and offline mode is on (GEOLOCATE_OFFLINE/HF_HUB_OFFLINE)",
            fetch_command(spec),
        )
    if not hub_reachable():
        with _HUB_LOCK:
            why = _HUB_STATE.get(hub_endpoint(), (False, "not checked"))[1]
        raise WeightsMissing(what, f"the model hub {hub_endpoint()} is unreachable ({why}; checked once per process)", fetch_command(spec))
    for _attempt in range(2):
        try:
            # open_clip's own mechanism: Hugging Face Hub (progress bars from huggingface_hub) or the URL.
            path = download_pretrained(cfg, cache_dir=str(weights_dir()))
        except Exception as err:  # network errors come in many types
            raise WeightsMissing(what, f"download failed ({type(err).__name__}: {err})", fetch_command(spec)) from None
        if not path or not os.path.isfile(path):
            raise WeightsMissing(what, "download returned no file", fetch_command(spec))
        if verify_checkpoint(path) is not False:
            return path
        _discard(path)  # corrupted in transfer or on the server: never keep it, fetch once more
    raise WeightsMissing(what, "the downloaded file failed its sha256 check twice and was deleted", fetch_command(spec))


def hub_endpoint() -> str:
    """The model hub downloads go to (``HF_ENDPOINT`` as ``huggingface_hub`` read it at import)."""
    from huggingface_hub import constants

    return constants.ENDPOINT


def _probe(endpoint: str) -> tuple[bool, str]:
    import httpx

    try:
        # Any HTTP answer (even 404) means the hub is there; only silence or a refused connection is "unreachable".
        r = httpx.head(endpoint + "/", timeout=HUB_CHECK_TIMEOUT_S, follow_redirects=False)
        return True, f"answered HTTP {r.status_code}"
    except httpx.TimeoutException:
        return False, f"no answer within {HUB_CHECK_TIMEOUT_S:g} s"
    except (httpx.HTTPError, OSError) as err:
        return False, f"{type(err).__name__}: {err}"


def hub_reachable(refresh: bool = False) -> bool:
    """Whether the model hub answers; checked once per process (at most :data:`HUB_CHECK_TIMEOUT_S` s) and remembered.

    Offline mode answers False without touching the network. Concurrent callers wait for the one check.

    Args:
        refresh: check again instead of using the remembered answer.
    """
    if offline():
        return False
    endpoint = hub_endpoint()
    with _HUB_LOCK:
        if refresh or endpoint not in _HUB_STATE:
            _HUB_STATE[endpoint] = _probe(endpoint)
        return _HUB_STATE[endpoint][0]


def hub_status() -> str:
    """One line about the hub for the app: offline mode, not checked yet, reachable or why not (never probes)."""
    if offline():
        return "offline mode (GEOLOCATE_OFFLINE/HF_HUB_OFFLINE): the model hub is never contacted"
    endpoint = hub_endpoint()
    with _HUB_LOCK:
        state = _HUB_STATE.get(endpoint)
    if state is None:
        return f"model hub {endpoint}: not checked yet"
    return f"model hub {endpoint}: {'reachable' if state[0] else 'unreachable'} ({state[1]})"


def verify_checkpoint(path: str | Path) -> bool | None:
    """Check a file from the Hub cache against its blob name, which is the sha256 the Hub sent as ETag.

    Returns:
        True or False; None when the name is not a sha256 (a single copied file, a non-LFS file).
    """
    real = os.path.realpath(path)
    name = os.path.basename(real)
    if not re.fullmatch(r"[0-9a-f]{64}", name):
        return None
    return file_sha256(real) == name


def _discard(path: str | Path) -> None:
    """Delete a cached download: the blob and the snapshot link that points at it."""
    real = os.path.realpath(path)
    for p in {str(path), real}:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def geoclip_weights_files() -> dict[str, Path]:
    """The GeoCLIP head, location encoder and logit scale files shipped in the ``geoclip`` wheel, and its gallery.

    Raises:
        WeightsMissing: the ``geoclip`` package (or one of its files) is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec("geoclip")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsMissing("GeoCLIP head and location encoder", "the geoclip package is not installed", "pip install geoclip==1.3.0")
    root = Path(list(spec.submodule_search_locations)[0]) / "model"
    files = {
        "mlp": root / "weights" / "image_encoder_mlp_weights.pth",
        "location_encoder": root / "weights" / "location_encoder_weights.pth",
        "logit_scale": root / "weights" / "logit_scale_weights.pth",
        "gallery": root / "gps_gallery" / "coordinates_100K.csv",
    }
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise WeightsMissing("GeoCLIP head and location encoder", f"files missing from the geoclip wheel: {missing}", "pip install --force-reinstall geoclip==1.3.0")
    return files


def _backbone_status(spec: str) -> WeightStatus:
    try:
        parse_spec(spec)
    except BackboneSpecError as err:
        return WeightStatus(f"backbone {spec!r}", False, err.detail, err.fix)
    if spec == TINY_RANDOM:
        return WeightStatus(backbone_label(spec), True, "random initialisation, nothing to load")
    path = find_checkpoint(spec)
    if path:
        return WeightStatus(backbone_label(spec), True, f"{path} ({os.path.getsize(path) / 2**30:.2f} GiB)")
    problem = weights_dir_problem()
    if problem:
        return WeightStatus(backbone_label(spec), False, problem, _DIR_FIX)
    mode = "offline mode: will not download" if offline() else "will download on first use (~1.7 GB for ViT-L-14)"
    return WeightStatus(backbone_label(spec), False, f"not in {weights_dir()}; {mode}", fetch_command(spec))


def status(spec: str | None = None) -> list[WeightStatus]:
    """Availability of every model file the image experts need (no network; never raises)."""
    out = [_backbone_status(spec or default_backbone_spec())]
    try:
        files = geoclip_weights_files()
        out.append(WeightStatus("GeoCLIP head + location encoder + 100K gallery (geoclip wheel)", True, str(files["mlp"].parent.parent)))
    except WeightsMissing as err:
        out.append(WeightStatus("GeoCLIP head + location encoder + 100K gallery (geoclip wheel)", False, err.detail, err.fix))
    return out
