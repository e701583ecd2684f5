"""`python -m xtransfer.export`: XTREME submission export (xtransfer/xtreme/export.py)."""
from xtransfer.xtreme.export import main

if __name__ == "__main__":
    main()
