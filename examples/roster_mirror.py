"""Mirror a tenant's roster into a SQLite database: the example driver.

    python examples/roster_mirror.py --hub http://127.0.0.1:8080 \\
        --client-id CLIENT_ID --client-secret CLIENT_SECRET --db mirror.db [--once]

(or ``--api-key`` with a vendor's API key: every tenant of the vendor, concurrently). The driver
itself — its handlers and its database — is :mod:`interop_hub.demo.roster_mirror`, about a
hundred lines on :class:`interop_hub.client.Driver`; ``interop-hub quickstart`` runs the same
code in-process.
"""

import sys

from interop_hub.demo.roster_mirror import main

if __name__ == "__main__":
    sys.exit(main())
