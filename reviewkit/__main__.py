"""The reviewkit command (``python -m reviewkit`` and the ``reviewkit`` script)."""


def main() -> None:
    import gc

    # as cli.main sets them, but from the first import on (see there)
    gc.set_threshold(50_000, 20, 100)
    # first: the compiled regular expressions and dataclass methods of earlier
    # runs, before the modules that build them are imported (reviewkit.startcache)
    from reviewkit import startcache

    startcache.install()
    from reviewkit.cli import main as cli_main

    try:
        cli_main()
    finally:
        # everything a run built lives until the process ends: leave it to the
        # exit instead of the interpreter's final collections, which would
        # otherwise walk and free every object one by one (30-40 ms)
        gc.freeze()


if __name__ == "__main__":
    main()
