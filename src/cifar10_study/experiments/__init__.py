"""What each stage trains and measures: Stages 1-5, the stress tests, the collapse check, the ablation switches."""
