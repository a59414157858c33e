"""``python -m arena_eval`` (also what torchrun runs): the evaluation entry point."""

from arena_eval.cli import main

if __name__ == "__main__":
    main()
