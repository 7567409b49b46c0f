"""What every layer shares: the schema base and stage views, reading params.yaml, errors, atomic file
output, the stage CLI wrapper, and the run layout. Imports nothing else of the package."""
