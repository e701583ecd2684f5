"""`python -m xtransfer.score`: XTREME scoring (xtransfer/xtreme/score.py)."""
from xtransfer.xtreme.score import main

if __name__ == "__main__":
    main()
