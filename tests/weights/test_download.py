"""Downloads against a real HTTP server on 127.0.0.1: checksums, retries, mirrors, timeouts,
locking across processes, killed installs, offline mode and -from-file."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hca_disc_label.cli.models import command
from hca_disc_label.errors import DownloadError, ModelError
from hca_disc_label.weights.cache import verify_installed
from hca_disc_label.weights.card import load_model_folder
from hca_disc_label.weights.release import write_model_folder
from hca_disc_label.weights.resolve import locate_model, resolve_model
from hca_disc_label.weights.store import install_model

NAME, VERSION = "remote", "1.0.0"
SPEC = f"{NAME}@{VERSION}"


def _payload(n: int = 4096, seed: int = 0) -> bytes:
    return bytes((i * 131 + seed * 7 + (i >> 8)) % 256 for i in range(n))


def _setup(http_server, registry_writer, helpers, data: bytes, **route) -> str:
    url = http_server.route("/w.pt", data=data, **route)
    registry_writer([helpers.make_entry(NAME, VERSION, [("weights", "weights.pt", data, [url])])])
    return url


def _installed_path(env) -> Path:
    return Path(env["HCA_DISC_LABEL_HOME"]) / NAME / VERSION


def _nothing_installed(env, helpers) -> None:
    """No file in the cache except lock files, and nothing that passes as installed."""
    assert helpers.files_under(helpers.cache_root(env)) == []
    assert not _installed_path(env).exists()
    assert all(not ok for *_, ok, _ in verify_installed())


# --------------------------------------------------------------------------- basic outcomes
def test_download_success_records_provenance_and_is_cached(http_server, weights_env, registry_writer, helpers):
    data = _payload()
    url = _setup(http_server, registry_writer, helpers, data)

    folder = resolve_model(SPEC, progress=False)

    assert folder.path == _installed_path(weights_env).resolve()
    assert folder.weights_path.read_bytes() == data
    assert folder.sha256 == helpers.sha(data)
    assert folder.onnx_path is None
    assert folder.channel_values == [3, 4, 5]
    source = json.loads((folder.path / "source.json").read_text())
    assert source["files"]["weights.pt"]["url"] == url
    assert source["files"]["weights.pt"]["sha256"] == helpers.sha(data)
    assert source["tool"].startswith("hca_disc_label ") and source["installed_at"]
    assert not list(folder.path.glob("*.part"))
    # Second resolve: served from the cache, no new request.
    assert resolve_model(SPEC, progress=False).path == folder.path
    assert resolve_model(NAME, progress=False).path == folder.path
    assert http_server.count("/w.pt") == 1
    assert verify_installed() == [(NAME, VERSION, True, f"installed: {folder.path}")]


def test_checksum_mismatch_deletes_file_and_exits_1(http_server, weights_env, registry_writer, helpers):
    data, wrong = _payload(), _payload(seed=1)
    assert len(wrong) == len(data) and wrong != data  # same size: only the checksum can tell
    url = http_server.route("/w.pt", data=wrong)
    registry_writer([helpers.make_entry(NAME, VERSION, [("weights", "weights.pt", data, [url])])])

    result = CliRunner().invoke(command, ["install", SPEC, "-v", "0"], standalone_mode=False)

    assert result.exit_code == 1
    assert isinstance(result.exception, DownloadError)
    message = str(result.exception)
    assert "checksum mismatch" in message and helpers.sha(data) in message and helpers.sha(wrong) in message
    assert "\n" not in message
    assert http_server.count("/w.pt") == 1  # a deterministic failure is not retried
    _nothing_installed(weights_env, helpers)


def test_truncated_body_is_retried_then_fails_cleanly(http_server, weights_env, registry_writer, helpers):
    data = _payload(200_000)
    _setup(http_server, registry_writer, helpers, data, truncate_at=50_000)

    with pytest.raises(DownloadError, match="closed before the end|incomplete"):
        install_model(SPEC, progress=False)

    assert http_server.count("/w.pt") == 3  # 1 + HCA_DISC_LABEL_RETRIES=2
    _nothing_installed(weights_env, helpers)


def test_404_fails_without_retry(http_server, weights_env, registry_writer, helpers):
    _setup(http_server, registry_writer, helpers, _payload(), status=404)

    with pytest.raises(DownloadError, match="HTTP 404"):
        resolve_model(SPEC, progress=False)

    assert http_server.count("/w.pt") == 1
    _nothing_installed(weights_env, helpers)


def test_500_then_success_on_retry(http_server, weights_env, registry_writer, helpers):
    data = _payload()
    _setup(http_server, registry_writer, helpers, data, status=500, fail_first=2)

    folder = install_model(SPEC, progress=False)

    assert folder.weights_path.read_bytes() == data
    assert http_server.count("/w.pt") == 3


def test_stalled_server_times_out_without_hanging(http_server, weights_env, registry_writer, helpers, monkeypatch):
    monkeypatch.setenv("HCA_DISC_LABEL_RETRIES", "1")
    _setup(http_server, registry_writer, helpers, _payload(), stall_s=10.0)

    start = time.monotonic()
    with pytest.raises(DownloadError, match="read timeout"):
        install_model(SPEC, progress=False)

    assert time.monotonic() - start < 5.0  # 2 attempts x 0.5 s read timeout (+ back-off)
    assert http_server.count("/w.pt") == 2
    _nothing_installed(weights_env, helpers)


def test_first_mirror_down_second_serves(http_server, weights_env, registry_writer, helpers, closed_port):
    data = _payload()
    dead = f"http://127.0.0.1:{closed_port}/w.pt"
    good = http_server.route("/w.pt", data=data)
    registry_writer([helpers.make_entry(NAME, VERSION, [("weights", "weights.pt", data, [dead, good])])])

    folder = install_model(SPEC, progress=False)

    source = json.loads((folder.path / "source.json").read_text())
    assert source["files"]["weights.pt"]["url"] == good
    assert http_server.count("/w.pt") == 1


def test_all_mirrors_fail_message_lists_each(http_server, weights_env, registry_writer, helpers, closed_port):
    data = _payload()
    dead = f"http://127.0.0.1:{closed_port}/w.pt"
    gone = http_server.route("/gone.pt", data=data, status=404)
    registry_writer([helpers.make_entry(NAME, VERSION, [("weights", "weights.pt", data, [dead, gone])])])

    with pytest.raises(DownloadError) as info:
        install_model(SPEC, progress=False)

    message = str(info.value)
    assert f"{dead}: connection refused (after 3 attempts)" in message
    assert f"{gone}: HTTP 404" in message


def test_wrong_announced_size_tries_next_mirror(http_server, weights_env, registry_writer, helpers):
    data = _payload()
    big = http_server.route("/big.pt", data=data + b"extra")
    good = http_server.route("/w.pt", data=data)
    registry_writer([helpers.make_entry(NAME, VERSION, [("weights", "weights.pt", data, [big, good])])])

    folder = install_model(SPEC, progress=False)

    assert folder.weights_path.read_bytes() == data
    assert http_server.count("/big.pt") == 1 and http_server.count("/w.pt") == 1


def test_weights_onnx_and_card_downloaded_together(http_server, weights_env, registry_writer, helpers, tmp_path):
    weights, onnx = _payload(3000), _payload(2000, seed=3)
    src = tmp_path / "src"
    src.mkdir()
    (src / "w.pt").write_bytes(weights)
    (src / "m.onnx").write_bytes(onnx)
    card = {"name": NAME, "version": VERSION, **helpers.model_info()}
    built = write_model_folder(tmp_path / "export", card, {"weights": src / "w.pt", "onnx": src / "m.onnx"})
    card_bytes = (built.path / "model.json").read_bytes()
    urls = {p: http_server.route(p, data=d) for p, d in
            (("/weights.pt", weights), ("/model.onnx", onnx), ("/model.json", card_bytes))}
    registry_writer([helpers.make_entry(NAME, VERSION, [
        ("weights", "weights.pt", weights, [urls["/weights.pt"]]),
        ("onnx", "model.onnx", onnx, [urls["/model.onnx"]]),
        ("card", "model.json", card_bytes, [urls["/model.json"]]),
    ])])

    folder = install_model(SPEC, progress=False)

    assert (folder.path / "model.json").read_bytes() == card_bytes
    assert folder.onnx_path.read_bytes() == onnx and folder.weights_path.read_bytes() == weights
    assert json.loads((folder.path / "source.json").read_text())["card"] == "downloaded"
    assert [ok for *_, ok, _ in verify_installed()] == [True]


# --------------------------------------------------------------------------- corruption
def test_corrupted_install_is_detected_and_reinstall_repairs(http_server, weights_env, registry_writer, helpers):
    data = _payload()
    _setup(http_server, registry_writer, helpers, data)
    folder = install_model(SPEC, progress=False)
    weights = folder.weights_path
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, one bit flipped

    (name, version, ok, message), = verify_installed()
    assert not ok and "weights.pt" in message and "checksum" in message
    with pytest.raises(ModelError, match="weights.pt"):
        resolve_model(SPEC, progress=False)
    result = CliRunner().invoke(command, ["verify"], standalone_mode=False)
    assert result.exit_code == 1 and "FAIL" in result.output

    install_model(SPEC, progress=False)  # no -force needed to repair a corrupt install

    assert weights.read_bytes() == data
    assert http_server.count("/w.pt") == 2
    assert verify_installed()[0][2] is True


def test_missing_marker_never_passes_as_installed(http_server, weights_env, registry_writer, helpers):
    data = _payload()
    _setup(http_server, registry_writer, helpers, data)
    folder = install_model(SPEC, progress=False)
    (folder.path / "source.json").unlink()

    assert verify_installed()[0][2] is False
    with pytest.raises(ModelError, match="incomplete install"):
        locate_model(SPEC)
    install_model(SPEC, progress=False)
    assert (folder.path / "source.json").is_file() and http_server.count("/w.pt") == 2


# --------------------------------------------------------------------------- processes
def _resolve_worker(env: dict, spec: str, start, queue) -> None:
    os.environ.update(env)
    from hca_disc_label.weights.resolve import resolve_model as resolve

    queue.put(("ready", "", ""))
    start.wait(60)
    try:
        folder = resolve(spec, progress=False)
        queue.put(("ok", str(folder.path), folder.sha256))
    except BaseException as exc:  # report everything to the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}", ""))


def _install_worker(env: dict, spec: str) -> None:
    os.environ.update(env)
    from hca_disc_label.weights.store import install_model as install

    install(spec, progress=False)


def test_eight_processes_share_one_download(http_server, weights_env, registry_writer, helpers):
    data = _payload(256 * 1024)
    # Slow enough (~0.5 s) that every process asks while the first one is downloading.
    _setup(http_server, registry_writer, helpers, data, chunk=16 * 1024, delay_s=0.03)
    env = dict(weights_env, HCA_DISC_LABEL_READ_TIMEOUT="10")
    ctx = multiprocessing.get_context("spawn")
    start, queue = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_resolve_worker, args=(env, SPEC, start, queue)) for _ in range(8)]
    for p in procs:
        p.start()
    # Release all workers together once each has imported the package, so they really race.
    assert [queue.get(timeout=60)[0] for _ in procs] == ["ready"] * 8
    start.set()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)

    assert all(p.exitcode == 0 for p in procs)
    assert [r[0] for r in results] == ["ok"] * 8, results
    assert {r[1] for r in results} == {str(_installed_path(weights_env).resolve())}
    assert {r[2] for r in results} == {helpers.sha(data)}
    assert http_server.count("/w.pt") == 1
    assert verify_installed() == [(NAME, VERSION, True, f"installed: {_installed_path(weights_env).resolve()}")]


def test_killed_install_leaves_nothing_installed(http_server, weights_env, registry_writer, helpers, monkeypatch):
    data = _payload(400 * 1024)
    _setup(http_server, registry_writer, helpers, data, chunk=8 * 1024, delay_s=0.1)  # ~5 s: ample time to kill it
    env = dict(weights_env, HCA_DISC_LABEL_READ_TIMEOUT="10")
    part = helpers.cache_root(weights_env) / NAME / f".{VERSION}.staging" / "weights.pt.part"
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_install_worker, args=(env, SPEC))
    proc.start()
    try:
        assert helpers.wait_for(lambda: part.exists() and part.stat().st_size > 0)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    assert proc.exitcode == -signal.SIGKILL

    # Nothing passes as installed: no version folder, verify lists nothing OK, offline resolve refuses.
    assert not _installed_path(weights_env).exists()
    assert verify_installed() == []
    assert locate_model(SPEC) is None
    with pytest.raises(DownloadError, match="offline"):
        resolve_model(SPEC, offline=True)

    # The dead process's lock is gone; a new install succeeds and cleans the staging folder.
    http_server.routes["/w.pt"].delay_s = 0.0
    folder = install_model(SPEC, progress=False)
    assert folder.weights_path.read_bytes() == data
    assert not part.parent.exists()
    assert verify_installed()[0][2] is True


# --------------------------------------------------------------------------- offline / from file
def test_offline_opens_no_socket_and_names_the_fix(http_server, weights_env, registry_writer, helpers, monkeypatch):
    url = _setup(http_server, registry_writer, helpers, _payload())
    monkeypatch.setenv("HCA_DISC_LABEL_OFFLINE", "1")

    def no_network(*args, **kwargs):
        pytest.fail("a socket was opened in offline mode")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)

    with pytest.raises(DownloadError) as info:
        resolve_model(SPEC)
    message = str(info.value)
    assert f"hca_label models install {SPEC} -from-file" in message
    assert "HCA_DISC_LABEL_OFFLINE" in message and url in message
    with pytest.raises(DownloadError, match="-from-file"):
        install_model(SPEC)
    result = CliRunner().invoke(command, ["install", SPEC], standalone_mode=False)
    assert result.exit_code == 1 and "-from-file" in str(result.exception)
    assert http_server.count("/w.pt") == 0


def test_from_file_wrong_file_rejected_right_file_installed(http_server, weights_env, registry_writer, helpers,
                                                           tmp_path, monkeypatch):
    data = _payload()
    _setup(http_server, registry_writer, helpers, data)
    monkeypatch.setenv("HCA_DISC_LABEL_OFFLINE", "1")
    wrong = tmp_path / "wrong.pt"
    wrong.write_bytes(_payload(seed=9))

    result = CliRunner().invoke(command, ["install", SPEC, "-from-file", str(wrong)], standalone_mode=False)

    assert result.exit_code == 1 and isinstance(result.exception, ModelError)
    assert "is not a file of remote@1.0.0" in str(result.exception)
    assert helpers.sha(data) in str(result.exception)
    _nothing_installed(weights_env, helpers)

    right = tmp_path / "downloaded-elsewhere.bin"
    right.write_bytes(data)
    result = CliRunner().invoke(command, ["install", SPEC, "-from-file", str(right)], standalone_mode=False)
    assert result.exit_code == 0, result.exception
    folder = resolve_model(SPEC)  # offline: served from the cache
    assert folder.weights_path.name == "weights.pt" and folder.weights_path.read_bytes() == data
    assert json.loads((folder.path / "source.json").read_text())["source"] == "file"
    assert verify_installed()[0][2] is True
    assert http_server.count("/w.pt") == 0


def test_from_file_model_folder(weights_env, registry_writer, helpers, tmp_path):
    registry_writer([])
    src = tmp_path / "w.bin"
    src.write_bytes(_payload())
    card = {"name": "site-model", "version": "2.1.0", **helpers.model_info()}
    exported = write_model_folder(tmp_path / "export", card, {"weights": src})

    folder = install_model(None, from_file=exported.path)

    assert folder.path == (helpers.cache_root(weights_env) / "site-model" / "2.1.0").resolve()
    assert resolve_model("site-model", offline=True).path == folder.path
    assert verify_installed() == [("site-model", "2.1.0", True, f"installed: {folder.path} (not in the registry)")]
    # A tampered folder is refused (its card no longer matches) and does not replace the install.
    (exported.path / "weights.pt").write_bytes(_payload(seed=5))
    with pytest.raises(ModelError, match="weights.pt"):
        install_model("site-model", from_file=exported.path, force=True)
    assert load_model_folder(folder.path).sha256 == helpers.sha(_payload())
