"""`python -m dirnet.eval`: the name issue 4 uses for `python -m dirnet.evaluate`."""
import sys

from .evaluate import main

if __name__ == "__main__":
    sys.exit(main())
