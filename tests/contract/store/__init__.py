"""The store contract suite: one module per port of ``shared/ports``, each run on every backend."""
