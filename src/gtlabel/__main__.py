"""``python -m gtlabel``: the same command line as ``gtlabel``."""

from gtlabel.cli import main

main()
