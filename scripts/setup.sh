#!/usr/bin/env bash
# Create (or reuse) the local virtual environment, install the package with its
# extras, and make sure open3d's system library libusb-1.0 is present.
set -euo pipefail
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-sam,viewer,ray,dev}
PYTHON=${PYTHON:-python3}

"$PYTHON" - <<'PYEOF' || { echo "omniseg3d-mesh needs Python >= 3.10 (found $("$PYTHON" --version 2>&1)); set PYTHON=python3.X" >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)
PYEOF

# open3d links against libusb-1.0 (Debian/Ubuntu package libusb-1.0-0).
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing libusb-1.0-0 (needed by open3d)"
    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 >/dev/null
  else
    echo "open3d needs the system library libusb-1.0; run:  sudo apt-get install -y libusb-1.0-0" >&2
  fi
fi

# The viewer's end-to-end test drives headless Chromium (Debian package chromium);
# without it that one test is skipped.
if [[ ",$EXTRAS," == *",dev,"* ]] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing chromium (for the viewer's end-to-end test)"
    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || echo "could not install chromium; the viewer's browser test will be skipped" >&2
  else
    echo "optional: sudo apt-get install -y chromium   (runs the viewer's browser test)" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
echo "installing omniseg3d-mesh[$EXTRAS] into $VENV (first time: a few minutes, torch is large)"
"$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
"$VENV/bin/python" -c "import omniseg3d_mesh, open3d, torch; print('omniseg3d-mesh', omniseg3d_mesh.__version__, '| torch', torch.__version__, '| open3d', open3d.__version__)"
