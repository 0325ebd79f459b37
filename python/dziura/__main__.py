"""``python -m dziura`` and the ``dziura`` command."""

import sys


def main():
    from dziura import main as _main

    sys.exit(_main())


if __name__ == "__main__":
    main()
