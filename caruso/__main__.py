"""``python -m caruso`` is the ``caruso`` command."""

from caruso.cli import main

main()
