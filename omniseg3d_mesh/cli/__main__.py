"""``python -m omniseg3d_mesh.cli`` = ``omniseg-mesh``."""

import sys

from omniseg3d_mesh.cli import main

sys.exit(main())
