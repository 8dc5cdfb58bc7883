"""A Keras 3 (or tf-keras) `.keras` zip: config.json (the layers), metadata.json (the Keras version) and
model.weights.h5, whose weights sit under the path Keras saved each layer by
(`layers/<snake_case class name>[_<n>]/vars/<i>`, a layer's sublayers and cells below it). Only the
weights' shapes are read."""

from __future__ import annotations

import json
import zipfile

from advisor.errors import ModelError
from advisor.models.model_file import ModelFile
from advisor.models.signature import ModelSignature
from advisor.reading import keras_config as kc
from advisor.reading.formats import keras_major

WEIGHTS = "model.weights.h5"


def read(handle, source: str) -> ModelFile:
    try:
        with zipfile.ZipFile(handle) as archive:
            try:
                meta = json.loads(archive.read("metadata.json"))
                config = json.loads(archive.read("config.json"))
            except (KeyError, json.JSONDecodeError):
                raise ModelError(f"{source}: a zip file, but not a .keras model (no readable metadata.json and config.json)") from None
            stored = _stored(archive) if WEIGHTS in archive.namelist() else {}
    except zipfile.BadZipFile:
        raise ModelError(f"{source}: a damaged zip file") from None
    if "keras_version" not in meta:
        raise ModelError(f"{source}: metadata.json does not say which Keras saved it")
    version = meta["keras_version"]
    fmt = keras_major(version, source)
    inputs, outputs = kc.inputs_and_outputs(config)
    tensors = kc.assemble(config, _owned(config, stored), "keras")
    signature = ModelSignature(format=fmt.value, keras_version=version, inputs=inputs, outputs=outputs,
                               parameters=_count(stored) or None, batch=kc.batch_of(config))
    notes = () if kc.has_layer_graph(config) else (
        "a subclassed model: its layers' order is not in the file, so the size prediction counts its weights by "
        "their shapes",)
    return ModelFile(source, fmt, signature, tensors, version, notes)


def _stored(archive: zipfile.ZipFile) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """Float weights by the path of the object that owns them (the part before /vars/)."""
    from advisor.reading.hdf5 import open_hdf5

    stored: dict[str, list] = {}
    with archive.open(WEIGHTS) as entry:  # stored uncompressed: seeks are cheap
        for name, node in open_hdf5(entry).visit_datasets():
            if "/vars/" in f"/{name}" and not name.startswith(("optimizer", "metrics")) and node.kind == "f":
                owner = f"/{name}".rsplit("/vars/", 1)[0].lstrip("/")
                stored.setdefault(owner, []).append((name, node.shape))
    return {owner: sorted(found, key=lambda item: int(item[0].rsplit("/", 1)[-1])) for owner, found in stored.items()}


def _owned(config: dict, stored: dict) -> kc.Weights:
    """Each config layer's weights: those under its saved path, its sublayers' and cells' included; what
    no layer's path explains keeps its own path as its name."""
    weights: kc.Weights = {}
    saved = list(kc.saved_paths(config))
    by_name = [(f"layers/{kc.layer_name(layer)}", layer) for _, layer in saved]  # how earlier Keras 3 releases saved
    paths = sorted(saved + by_name, key=lambda item: -len(item[0]))
    for owner in sorted(stored):
        layer = next((layer for path, layer in paths if owner == path or owner.startswith(path + "/")), None)
        name = kc.layer_name(layer) if layer is not None else owner
        weights.setdefault(name, []).extend(stored[owner])
    return weights


def _count(stored: dict) -> int:
    total = 0
    for found in stored.values():
        for _, shape in found:
            count = 1
            for d in shape:
                count *= d
            total += count
    return total
