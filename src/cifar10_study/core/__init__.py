"""What every layer shares: typed params (config, schema), errors, atomic file output, the stage CLI wrapper."""
