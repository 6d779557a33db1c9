"""Registry parsing/validation, model folders (write, load, tamper detection), embedded models."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from hca_disc_label.errors import ModelError
from hca_disc_label.weights.cache import verify_installed
from hca_disc_label.weights.card import load_model_folder
from hca_disc_label.weights.registry import load_registry, registry_path
from hca_disc_label.weights.release import entry_from_folder, update_registry_entry, write_model_folder
from hca_disc_label.weights.resolve import resolve_model
from hca_disc_label.weights.spec import parse_spec
from hca_disc_label.weights.cache import cache_dir, list_models
from hca_disc_label.weights.registry import default_models_dir
from hca_disc_label.weights.spec import version_key

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


def _card(helpers, name: str = "mini", version: str = "0.3.0") -> dict:
    return {"name": name, "version": version, **helpers.model_info(name, version)}


def _folder(tmp_path: Path, helpers, name: str = "mini", version: str = "0.3.0", onnx: bool = True):
    src = tmp_path / f"src-{name}-{version}"
    src.mkdir()
    (src / "state.bin").write_bytes(b"torch-weights-" + name.encode() + version.encode())
    files = {"weights": src / "state.bin"}
    if onnx:
        (src / "export.onnx").write_bytes(b"onnx-bytes-" + name.encode())
        files["onnx"] = src / "export.onnx"
    return write_model_folder(tmp_path / f"{name}-{version}", _card(helpers, name, version), files)


# --------------------------------------------------------------------------- specs and versions
@pytest.mark.parametrize("spec, expected", [
    ("hca-compact", ("hca-compact", None)),
    ("hca-compact@0.1.0", ("hca-compact", "0.1.0")),
    (" hca_paper@1.2.3-rc.1 ", ("hca_paper", "1.2.3-rc.1")),
])
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "@1.0.0", "../evil", "name@1.0", "name@v1.0.0", "a/b@1.0.0", "name@01.0.0"])
def test_parse_spec_rejects_bad_specs(spec):
    with pytest.raises(ModelError):
        parse_spec(spec)


def test_version_order_follows_semver():
    versions = ["1.0.0", "0.10.0", "1.0.0-rc.2", "0.9.1", "1.0.0-rc.10", "1.0.0-alpha"]
    assert sorted(versions, key=version_key) == ["0.9.1", "0.10.0", "1.0.0-alpha", "1.0.0-rc.2", "1.0.0-rc.10", "1.0.0"]


# --------------------------------------------------------------------------- registry files
def test_repository_registry_is_valid_and_has_defaults():
    registry = load_registry(REPO_MODELS / "registry.json")
    for contrast in ("t1", "t2"):
        entry = registry.default_for(contrast)
        assert entry is not None and entry.embedded == "hca-compact" and entry.name == "hca-compact"
    assert registry.embedded_dir(entry) == (REPO_MODELS / "hca-compact").resolve()
    assert {f.role for f in entry.files} == {"weights", "onnx", "card"}


def test_registry_location_env_and_source_checkout_fallback(weights_env, monkeypatch):
    assert registry_path() == Path(weights_env["HCA_DISC_LABEL_REGISTRY"])
    monkeypatch.delenv("HCA_DISC_LABEL_REGISTRY")
    assert registry_path().resolve() == (default_models_dir() / "registry.json").resolve()
    assert registry_path().is_file()
    assert cache_dir() == Path(weights_env["HCA_DISC_LABEL_HOME"])


def test_missing_registry_names_the_file(weights_env):
    with pytest.raises(ModelError, match="registry not found.*HCA_DISC_LABEL_REGISTRY"):
        load_registry()


def _good_entry(helpers) -> dict:
    return helpers.make_entry("m", "1.0.0", [("weights", "weights.pt", b"abc", ["https://example.org/w.pt"])],
                              default_for=["t2"])


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.update(schema=2), "schema"),
    (lambda r: r["models"][0].update(version="1.0"), "semantic version"),
    (lambda r: r["models"][0].pop("licence"), "missing keys"),
    (lambda r: r["models"][0]["files"][0].update(sha256="abc"), "sha256"),
    (lambda r: r["models"][0]["files"][0].update(size=0), "size"),
    (lambda r: r["models"][0]["files"][0].update(filename="../w.pt"), "filename"),
    (lambda r: r["models"][0]["files"][0].update(format="onnx"), "format"),
    (lambda r: r["models"][0]["files"][0].update(urls=["ftp://x/w.pt"]), "urls"),
    (lambda r: r["models"][0].update(channel_values=[1, 2]), "channel_values"),
    (lambda r: r["models"][0].update(contrasts=["t1"]), "default_for"),
    (lambda r: r["models"][0]["input"].pop("pixel_spacing_mm"), "pixel_spacing_mm"),
    (lambda r: r["models"].append(dict(r["models"][0])), "duplicate"),
    (lambda r: r["models"].append(dict(r["models"][0], version="2.0.0")), "two defaults for t2"),
])
def test_registry_validation_errors(weights_env, registry_writer, helpers, mutate, message):
    raw = {"schema": 1, "models": [_good_entry(helpers)]}
    mutate(raw)
    Path(weights_env["HCA_DISC_LABEL_REGISTRY"]).write_text(json.dumps(raw))
    with pytest.raises(ModelError, match=message) as info:
        load_registry()
    assert weights_env["HCA_DISC_LABEL_REGISTRY"] in str(info.value)


def test_registry_find_newest_and_default(weights_env, registry_writer, helpers):
    entries = [helpers.make_entry("m", v, [("weights", "weights.pt", v.encode(), ["https://e.org/w"])])
               for v in ("0.9.0", "1.10.0", "1.2.0")]
    entries[1]["default_for"] = ["t1"]
    registry_writer(entries)
    registry = load_registry()
    assert registry.find("m").version == "1.10.0"
    assert registry.find("m", "1.2.0").version == "1.2.0"
    assert registry.find("m", "3.0.0") is None
    assert registry.default_for("t1").version == "1.10.0" and registry.default_for("t2") is None
    with pytest.raises(ModelError, match="no default model for t2"):
        resolve_model(None, "t2")
    with pytest.raises(ModelError, match="unknown version m@3.0.0; the registry has m 1.10.0, 1.2.0, 0.9.0"):
        resolve_model("m@3.0.0")
    with pytest.raises(ModelError, match="unknown model nope"):
        resolve_model("nope")


# --------------------------------------------------------------------------- model folders
def test_write_and_load_model_folder(tmp_path, helpers):
    folder = _folder(tmp_path, helpers)
    card = json.loads((folder.path / "model.json").read_text())
    assert set(card["files"]) == {"weights", "onnx"}
    assert card["files"]["weights"] == {
        "path": "weights.pt", "sha256": helpers.sha(b"torch-weights-mini0.3.0"),
        "size": len(b"torch-weights-mini0.3.0"), "format": "torch-state-dict",
    }
    loaded = load_model_folder(folder.path / "model.json")
    assert loaded.path == folder.path and loaded.spec == "mini@0.3.0"
    assert loaded.weights_path == folder.path / "weights.pt"
    assert loaded.onnx_path == folder.path / "model.onnx"
    assert loaded.sha256 == card["files"]["weights"]["sha256"]
    assert loaded.channel_values == [3, 4, 5]
    assert loaded.input_contract["pixel_spacing_mm"] == 1.0
    assert loaded.architecture == {"stacks": 1, "channels": 8}
    assert not list(folder.path.glob(".*"))  # no temp files left behind


def test_write_model_folder_adds_onnx_later_and_keeps_weights(tmp_path, helpers):
    folder = _folder(tmp_path, helpers, onnx=False)
    assert folder.onnx_path is None
    onnx = tmp_path / "late.onnx"
    onnx.write_bytes(b"late onnx")
    updated = write_model_folder(folder.path, folder.card, {"onnx": onnx})
    assert set(updated.card["files"]) == {"weights", "onnx"}
    assert updated.onnx_path.read_bytes() == b"late onnx"


def test_onnx_only_folder(tmp_path, helpers):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"only onnx")
    folder = write_model_folder(tmp_path / "o", _card(helpers), {"onnx": onnx})
    assert folder.sha256 == helpers.sha(b"only onnx")
    with pytest.raises(ModelError, match="-backend onnx"):
        _ = folder.weights_path


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "weights.pt").write_bytes(b"X" * len((p / "weights.pt").read_bytes())), "weights.pt.*checksum"),
    (lambda p: (p / "weights.pt").write_bytes(b"short"), "weights.pt has 5 bytes"),
    (lambda p: (p / "model.onnx").unlink(), "onnx file missing: .*model.onnx"),
    (lambda p: (p / "model.json").write_text("{not json"), "model.json"),
    (lambda p: (p / "model.json").unlink(), "no model.json"),
])
def test_load_model_folder_names_the_bad_file(tmp_path, helpers, damage, message):
    folder = _folder(tmp_path, helpers)
    damage(folder.path)
    with pytest.raises(ModelError, match=message):
        load_model_folder(folder.path)


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c.pop("channel_values"), "missing keys"),
    (lambda c: c.update(channel_values=[3, 3]), "channel_values"),
    (lambda c: c.update(channel_values=[125, 3, 4]), "landmark codes"),  # landmarks come after the discs
    (lambda c: c.update(channel_values=[3, 4, 99]), "channel_values"),  # neither a disc nor a landmark
    (lambda c: c.update(version="one"), "semantic version"),
    (lambda c: c["input"].update(output_stride=0), "output_stride"),
    (lambda c: c["input"].update(low_percentile=99.5), "low_percentile"),
])
def test_invalid_card_is_rejected_before_writing(tmp_path, helpers, mutate, message):
    card = _card(helpers)
    mutate(card)
    src = tmp_path / "w.pt"
    src.write_bytes(b"w")
    with pytest.raises(ModelError, match=message):
        write_model_folder(tmp_path / "out", card, {"weights": src})
    assert not (tmp_path / "out" / "model.json").exists()


def test_card_with_landmark_channels_after_the_discs_is_accepted(tmp_path, helpers):
    card = _card(helpers)
    card["channel_values"] = [3, 4, 5, 102, 125]
    src = tmp_path / "w.pt"
    src.write_bytes(b"w")
    folder = write_model_folder(tmp_path / "out", card, {"weights": src})
    assert load_model_folder(folder.path).channel_values == [3, 4, 5, 102, 125]


def test_resolve_folder_path_spec(tmp_path, helpers, weights_env, registry_writer):
    registry_writer([])
    folder = _folder(tmp_path, helpers)
    assert resolve_model(str(folder.path), offline=True).path == folder.path
    assert resolve_model(str(folder.path / "model.json"), offline=True).path == folder.path
    with pytest.raises(ModelError, match="model folder not found"):
        resolve_model(str(tmp_path / "absent"))


# --------------------------------------------------------------------------- embedded models
def _embedded_registry(tmp_path, helpers, weights_env) -> Path:
    """A registry next to an embedded model folder, pinned with entry_from_folder."""
    models_dir = Path(weights_env["HCA_DISC_LABEL_REGISTRY"]).parent
    built = _folder(tmp_path, helpers, name="emb", version="0.1.0")
    write_model_folder(models_dir / "emb", built.card, {"weights": built.weights_path, "onnx": built.onnx_path})
    folder = load_model_folder(models_dir / "emb")
    entry = entry_from_folder(folder, embedded="emb", default_for=["t1", "t2"])
    update_registry_entry(weights_env["HCA_DISC_LABEL_REGISTRY"], entry)
    return models_dir / "emb"


def test_embedded_default_resolves_offline_without_network(tmp_path, helpers, weights_env, monkeypatch):
    emb = _embedded_registry(tmp_path, helpers, weights_env)
    monkeypatch.setattr(socket.socket, "connect", lambda *a: pytest.fail("network used"))
    monkeypatch.setenv("HCA_DISC_LABEL_OFFLINE", "1")

    for contrast in ("t1", "t2"):
        assert resolve_model(None, contrast).path == emb.resolve()
    assert resolve_model("emb@0.1.0").path == emb.resolve()
    assert verify_installed() == [("emb", "0.1.0", True, f"embedded: {emb.resolve()}")]
    assert list_models()[0]["status"] == "embedded"
    assert not cache_dir().exists()  # resolving an embedded model writes nothing


def test_embedded_folder_that_differs_from_registry_is_refused(tmp_path, helpers, weights_env):
    emb = _embedded_registry(tmp_path, helpers, weights_env)
    # Rewrite the folder consistently (card matches files) but with other weights:
    other = tmp_path / "other.pt"
    other.write_bytes(b"different weights")
    write_model_folder(emb, load_model_folder(emb).card, {"weights": other})

    with pytest.raises(ModelError, match="not the weights file of emb@0.1.0"):
        resolve_model(None, "t2")
    assert verify_installed()[0][2] is False


def test_embedded_folder_missing_says_so(weights_env, registry_writer, helpers):
    entry = helpers.make_entry("emb", "0.1.0", [], default_for=["t2"], embedded="emb")
    entry["files"] = [{"role": "weights", "filename": "weights.pt", "format": "torch-state-dict",
                       "sha256": None, "size": None, "urls": []}]
    registry_writer([entry])
    with pytest.raises(ModelError, match="embedded model emb@0.1.0 is missing from the package"):
        resolve_model(None, "t2")
    assert verify_installed()[0][2] is False


def test_update_registry_entry_replaces_same_version(tmp_path, helpers, weights_env):
    folder = _folder(tmp_path, helpers)
    path = weights_env["HCA_DISC_LABEL_REGISTRY"]
    update_registry_entry(path, entry_from_folder(folder, urls={"weights": ["https://a/w.pt", "https://b/w.pt"]}))
    update_registry_entry(path, entry_from_folder(folder, urls={"weights": ["https://c/w.pt"]}))
    registry = load_registry(path)
    assert [e.spec for e in registry.entries] == ["mini@0.3.0"]
    assert registry.entries[0].file("weights").urls == ("https://c/w.pt",)
    assert registry.entries[0].file("card").sha256 == helpers.sha((folder.path / "model.json").read_bytes())


def test_folder_whose_card_disagrees_with_registry_is_refused(tmp_path, helpers, weights_env, registry_writer):
    folder = _folder(tmp_path, helpers, name="m", version="1.0.0", onnx=False)
    entry = entry_from_folder(folder)
    entry["channel_values"] = [3, 4, 6]  # same weights, different meaning of the channels
    registry_writer([entry])
    from hca_disc_label.weights.store import install_model

    with pytest.raises(ModelError, match="disagrees with the registry entry m@1.0.0 on channel_values"):
        install_model("m@1.0.0", from_file=folder.path)
    assert not cache_dir().joinpath("m", "1.0.0").exists()
