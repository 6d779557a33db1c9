"""``hca_label models`` subcommands, called in-process like the dispatcher does."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hca_disc_label.cli.models import command
from hca_disc_label.errors import HCAError, ModelError


def run(args: list[str]) -> tuple[int, str, BaseException | None]:
    """Mirror cli/main.py: standalone_mode=False, UsageError -> 2, HCAError -> 1."""
    result = CliRunner().invoke(command, args, standalone_mode=False, prog_name="hca_label models")
    exc = result.exception
    if isinstance(exc, click.UsageError):
        return 2, result.output, exc
    if isinstance(exc, HCAError):
        return 1, result.output, exc
    assert exc is None, repr(exc)
    return 0, result.output, None


@pytest.fixture
def served(http_server, registry_writer, helpers):
    """Registry with one downloadable model (remote@1.0.0) and an older version."""
    data = b"remote weights" * 100
    url = http_server.route("/w.pt", data=data)
    registry_writer([
        helpers.make_entry("remote", "1.0.0", [("weights", "weights.pt", data, [url])], default_for=["t2"]),
        helpers.make_entry("remote", "0.9.0", [("weights", "weights.pt", b"old", [url + "?old"])]),
    ])
    return data


def test_help_with_dash_h(weights_env):
    for args in (["-h"], ["install", "-h"], ["info", "-h"]):
        code, out, _ = run(args)
        assert code == 0 and "Usage:" in out
    code, out, _ = run(["install", "-h"])
    assert "-from-file" in out and "-force" in out


def test_bad_arguments_exit_2(weights_env, served):
    assert run(["install"])[0] == 2
    assert run(["install", "remote", "-nope"])[0] == 2
    assert run(["frobnicate"])[0] == 2


def test_list_shows_versions_defaults_and_status(weights_env, served):
    code, out, _ = run(["list"])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "CONTRASTS", "DEFAULT", "FOR", "STATUS"]
    assert lines[1].split() == ["remote", "0.9.0", "t1,t2", "-", "available"]
    assert lines[2].split() == ["remote", "1.0.0", "t1,t2", "t2", "available"]

    assert run(["install", "remote", "-v", "0"])[0] == 0
    rows = json.loads(run(["list", "-json"])[1])
    assert {(r["version"], r["status"]) for r in rows} == {("0.9.0", "available"), ("1.0.0", "installed")}


def test_install_path_info_verify(weights_env, served, http_server, helpers):
    code, out, _ = run(["path", "remote@1.0.0"])
    assert code == 1  # not installed yet; path never downloads
    assert http_server.count("/w.pt") == 0

    code, out, _ = run(["install", "remote@1.0.0"])
    assert code == 0
    folder = Path(weights_env["HCA_DISC_LABEL_HOME"]) / "remote" / "1.0.0"
    assert out.strip() == f"remote@1.0.0: {folder.resolve()}"

    code, out, _ = run(["path", "remote"])
    assert (code, out.strip()) == (0, str(folder.resolve()))

    code, out, _ = run(["info", "remote@1.0.0"])
    assert code == 0
    assert "remote 1.0.0  [installed]" in out and "3 C2/C3" in out and helpers.sha(served) in out
    info = json.loads(run(["info", "remote@1.0.0", "-json"])[1])
    assert info["status"] == "installed" and info["card"]["channel_values"] == [3, 4, 5]
    assert info["registry"]["default_for"] == ["t2"]

    code, out, _ = run(["verify"])
    assert code == 0 and out.startswith("OK    remote@1.0.0")


def test_verify_fails_with_exit_1_on_corruption(weights_env, served):
    run(["install", "remote@1.0.0", "-v", "0"])
    weights = Path(weights_env["HCA_DISC_LABEL_HOME"]) / "remote" / "1.0.0" / "weights.pt"
    weights.write_bytes(b"tampered")
    code, out, exc = run(["verify"])
    assert code == 1 and isinstance(exc, ModelError)
    assert "FAIL  remote@1.0.0" in out and "weights.pt" in out
    assert "1 of 1 model(s) failed verification" == str(exc)


def test_install_unknown_model_is_a_one_line_error(weights_env, served):
    code, _, exc = run(["install", "nope@1.0.0"])
    assert code == 1 and "unknown model nope@1.0.0" in str(exc) and "\n" not in str(exc)
    code, _, exc = run(["info", "remote@5.0.0"])
    assert code == 1 and "1.0.0, 0.9.0" in str(exc)


def test_info_reads_a_folder_path(weights_env, registry_writer, helpers, tmp_path):
    registry_writer([])
    from hca_disc_label.weights.release import write_model_folder

    src = tmp_path / "w"
    src.write_bytes(b"weights")
    folder = write_model_folder(tmp_path / "f", {"name": "f", "version": "1.0.0", **helpers.model_info()},
                                {"weights": src})
    code, out, _ = run(["info", str(folder.path)])
    assert code == 0 and "f 1.0.0  [local folder]" in out and "weights.pt" in out
