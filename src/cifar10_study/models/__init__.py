"""The networks, one module per family, each with the config that builds it (`cfg.build()`); registry.py
holds the union of every family's config, for code that reads back any run."""
