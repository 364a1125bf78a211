"""``python -m medimg``: the command line (what ``torchrun -m medimg fit ...`` starts in every process)."""

from medimg.cli.app import main

main()
