"""Stage 5's components on top of Stage 4's ResNet-18 and recipe, one boolean switch each with its settings as
sibling keys (stage5.<switch>, stage5.<setting>); each has an ablation, Stage 5 with that component off
(runs/stage5_ablations/no_<switch>/<seed>/, DVC stages stage5_no_<switch>@<seed>)."""
from .switches import Component

STAGE5_COMPONENTS = (
    Component("se", off=False, settings=("se_reduction",)),
    Component("mixup", off=False, settings=("mixup_alpha",)),
    Component("cutout", off=False, settings=("cutout_size",)),
)
