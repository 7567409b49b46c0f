"""DVC stage `headline`: the study's headline for `dvc exp show` / `dvc metrics diff` (metrics/headline.json),
from the other analysis stages' metrics files."""
from cifar10_study.analysis import headline
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.params_file import load


@stage_entry
def main() -> None:
    headline.write_outputs(load(headline.HeadlineParams))
    print(f"headline: wrote {headline.HEADLINE}")


if __name__ == "__main__":
    main()
