"""Optional dependencies: import on first use, with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

_EXTRA_OF = {
    "segment_anything": "sam",
    "torchvision": "sam",
    "cv2": "sam",
    "viser": "viewer",
    "ray": "ray",
    "pycocotools": "dev",
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise ImportError saying which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if module == "nvdiffrast.torch" or module == "nvdiffrast":
            fix = (
                "nvdiffrast is not on the package index; install it from its source: "
                "pip install git+https://github.com/NVlabs/nvdiffrast (needs CUDA), or use --backend cpu"
            )
        else:
            extra = _EXTRA_OF.get(module.split(".")[0])
            # the package is installed from its source checkout (not on PyPI): name the extra there
            fix = (
                f'pip install -e ".[{extra}]" in the omniseg3d-mesh checkout'
                if extra
                else f"pip install {module.split('.')[0]}"
            )
        raise ImportError(f"{purpose} needs the Python package '{module}', which is not installed: {fix}") from exc
