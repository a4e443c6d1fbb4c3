"""DIR-Net live 3D hand tracker from a checkout: `python main.py [--source ...] [--headless] ...`.

The app lives in `app/__main__.py`; an installed package starts it as `dirnet-app`.
"""
import sys

from app.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
