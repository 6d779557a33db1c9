"""Packaging for hca_disc_label (console script ``hca_label``)."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
TORCH, ONNX = "torch>=2.1", "onnx>=1.14"
version = {}
exec((HERE / "hca_disc_label" / "_version.py").read_text(), version)

setup(
    name="hca_disc_label",
    version=version["__version__"],
    description="HCA-Net intervertebral disc labelling for sagittal spine MRI, SCT-compatible",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["hca_disc_label", "hca_disc_label.*"]) + ["hca_disc_label.models"],
    # The repository keeps released models at top level (models/); they install inside the
    # package so the embedded defaults work offline.
    package_dir={"hca_disc_label.models": "models"},
    package_data={
        "hca_disc_label": ["py.typed"],
        "hca_disc_label.models": ["*.json", "*/*.json", "*/*.pt", "*/*.onnx"],
    },
    # The default install labels with ONNX Runtime: no PyTorch (a bare "torch" can pull a
    # multi-GB CUDA build). The extras (hca_disc_label/extras.py says which command needs which):
    install_requires=[
        "numpy>=1.24",
        "nibabel>=5.0",
        "scipy>=1.10",
        "onnxruntime>=1.16",
        "click>=8.1",
        "requests>=2.28",
        "tqdm>=4.60",
        "filelock>=3.12",
        "platformdirs>=3.0",
        "pillow>=9.0",
        "matplotlib>=3.6",
    ],
    extras_require={
        "torch": [TORCH],  # -backend torch
        "export": [TORCH, ONNX],  # hca_label export
        "train": [TORCH, ONNX],  # hca_label train (exports ONNX at the end)
        "dev": ["pytest>=7.4", TORCH, ONNX],  # the tests run both backends
    },
    entry_points={"console_scripts": ["hca_label=hca_disc_label.cli.main:run"]},
)
