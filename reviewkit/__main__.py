"""The reviewkit command (``python -m reviewkit`` and the ``reviewkit`` script)."""


def main() -> None:
    # first: the compiled regular expressions and dataclass methods of earlier
    # runs, before the modules that build them are imported (reviewkit.startcache)
    from reviewkit import startcache

    startcache.install()
    from reviewkit.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
