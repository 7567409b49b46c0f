"""Stage 3's components, one flat switch each in params.yaml's stage3 section (stage3.<switch>); each has an
ablation, the full model with that component off (runs/stage3_ablations/no_<switch>/<seed>/, DVC stages
stage3_no_<switch>@<seed>)."""
from .switches import Component

STAGE3_COMPONENTS = (
    Component("residual", off=False),
    Component("batchnorm", off=False),
    Component("dropout", off=0.0),
    Component("label_smoothing", off=0.0),
    Component("weight_decay", off=0.0),
)
