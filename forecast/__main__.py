"""``python -m forecast``: the command line (``cli.main``)."""

from forecast.cli import main

if __name__ == "__main__":
    main()
