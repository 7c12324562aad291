"""The synthetic district generator, under its old name: it lives in the package
(:mod:`interop_hub.demo.district`), where ``interop-hub quickstart`` uses it too.

Usage: ``python -m bench.generate_district OUT_DIR [--students N] [--seed S] [--zip]`` (see
:mod:`interop_hub.demo.district`).
"""

import sys

from interop_hub.demo.district import (
    ALL_FILES,
    DATA_FILES,
    Summary,
    generate_district,
    generate_nightly,
    main,
    stable_id,
    zip_bundle,
)

__all__ = [
    "ALL_FILES",
    "DATA_FILES",
    "Summary",
    "generate_district",
    "generate_nightly",
    "main",
    "stable_id",
    "zip_bundle",
]

if __name__ == "__main__":
    sys.exit(main())
