"""Entry point for `python -m sandbox`; the commands live in `sandbox.cli`."""

from sandbox.cli import main

raise SystemExit(main())
