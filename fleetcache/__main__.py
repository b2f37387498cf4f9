"""Entry point for ``python -m fleetcache`` and the ``fleetcache`` console script: a Ctrl-C is
answered from the first line on, while the slow imports run and while Python exits too."""

import contextlib
import os
import signal
import sys


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C while nothing is under way (importing, exiting): nothing to undo, end now."""
    os.write(2, b"fleetcache: interrupted\n")
    os._exit(130)


def run() -> int:
    """Run the command line; the exit code."""
    signal.signal(signal.SIGINT, _interrupted)
    from fleetcache.cli import EXIT_INTERRUPTED, interrupted, main

    try:
        # during the run a Ctrl-C unwinds (locks, children, the audit log), and main reports it
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return main()
    except KeyboardInterrupt:  # before main's own try, or while it reported one
        interrupted()
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, _interrupted)
        with contextlib.suppress(OSError):  # what is left, before Python's exit flushes it
            sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(run())
