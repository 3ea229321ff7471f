"""The image's HEALTHCHECK: exit 0 when ``serve`` answers ``/livez`` with 200 (stdlib only).

``WORKERPLANE_HEALTHCHECK_URL`` overrides the address (the image serves on port 8080).
"""

import os
import sys
import urllib.request

URL = os.environ.get("WORKERPLANE_HEALTHCHECK_URL", "http://127.0.0.1:8080/livez")

try:
    with urllib.request.urlopen(URL, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as err:
    print(f"healthcheck: {URL}: {err}", file=sys.stderr)
    sys.exit(1)
