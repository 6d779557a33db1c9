"""Versioned, checksummed model weights: registry, model folders and the download cache.

Modules (see docs/ARCHITECTURE.md "Model folder" and SPEC §5): :mod:`.spec` (``parse_spec``:
names, versions), :mod:`.card` (``load_model_folder``: model card + folder, the model's sha256),
:mod:`.registry` (``load_registry``: registry.json), :mod:`.release` (``write_model_folder``,
registry entries, the ONNX export), :mod:`.cache` (``cache_dir``, ``verify_installed``: the
installed models), :mod:`.store` (``install_model``: download, install), :mod:`.resolve`
(``resolve_model``: ``-model`` to a folder). Nothing is re-exported here: import each name from
its module.
"""
