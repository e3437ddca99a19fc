"""Entry point for ``python -m geolocate``: runs :func:`geolocate.cli.main` and exits with its status."""

from .cli import main

raise SystemExit(main())
