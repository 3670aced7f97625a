"""Matching evaluation: precision and recall of automatic links on generated data.

    GOVHUB_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/registry_matching_eval.py [persons] [queries] [seed]
(the same as `govhub registry eval-matching`); a scratch database is created and dropped.
"""

from __future__ import annotations

import sys

from govhub_registry.matching.evaluation import main

if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    defaults = [5000, 2000, 7]
    persons, queries, seed = args + defaults[len(args) :]
    figures = main(persons=persons, queries=queries, seed=seed)
    sys.exit(0 if figures.precision >= 0.99 and figures.recall >= 0.95 else 1)
