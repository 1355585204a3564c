"""``python -m downside``: the same command line as the ``downside`` script."""

from downside.cli import main

if __name__ == "__main__":
    main()
