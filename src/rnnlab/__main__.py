"""`python -m rnnlab VERB ...` (same as the `rnnlab` command; e.g. under `torchrun -m rnnlab train ...`)."""
from rnnlab.cli import main

raise SystemExit(main())
