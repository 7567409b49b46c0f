"""What evaluation and the training loss compute, against values worked out by hand: the loss as a mean
over images, accuracy, per-class accuracy, the confusion matrix, eval mode for batch norm and dropout,
and a soft (MixUp) target that really reaches the loss and its gradient."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cifar10_study.analysis.stage1_results import confusion_matrix
from cifar10_study.data import CLASSES
from cifar10_study.data.augment import normalize
from cifar10_study.data.cifar10 import MEAN, STD, Split
from cifar10_study.training.device import use_precision
from cifar10_study.training.distributed import World
from cifar10_study.training.engine import soft_cross_entropy
from cifar10_study.training.evaluation import evaluate
from cifar10_study.training.measure import confusion, per_class_accuracy
from cifar10_study.training.recipe import TrainConfig
from helpers import flat_linear, learnable_splits, train_epoch_with


@pytest.fixture(autouse=True)
def fp32():
    """These tests compare evaluation and the loss with fp32 references computed here; the precision's own
    tests are in test_device.py."""
    use_precision("fp32")

CPU = torch.device("cpu")
LOG9 = math.log(9)


class Lookup(nn.Module):
    """Returns a fixed logit row per image: image i carries the value i in its first pixel, which the
    model reads back through the normalisation that `evaluate` applies."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, x):
        index = torch.round((x[:, 0, 0, 0] * STD[0] + MEAN[0]) * 255).long()
        return self.table[index]


def peaked(c: int) -> list[float]:
    """Logits with class c at log 9 and the other nine at 0: softmax gives c 9/18 = 1/2 and each other
    class 1/18, so the cross-entropy is log 2 when the label is c and log 18 otherwise."""
    row = [0.0] * 10
    row[c] = LOG9
    return row


# Five images: predicted classes 0, 1, 2, 3, 0; true labels 0, 1, 3, 3, 4 -> right, right, wrong, right, wrong.
PREDICTED, LABELS = [0, 1, 2, 3, 0], [0, 1, 3, 3, 4]


def five_images() -> Split:
    images = torch.zeros(5, 3, 32, 32, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(5, dtype=torch.uint8)
    return Split(images, torch.tensor(LABELS))


def lookup_model() -> Lookup:
    return Lookup(torch.tensor([peaked(c) for c in PREDICTED]))


@pytest.mark.parametrize("batch_size", [2, 3, 5, 1000])
def test_evaluate_gives_the_mean_loss_over_images_and_the_accuracy(batch_size):
    result = evaluate(lookup_model(), five_images(), batch_size, CPU)
    # Three images right at log 2 each, two wrong at log 18 each, averaged over the 5 images (with a
    # batch of 2 the mean of the batch means would be (log 2 + (log 18 + log 2) / 2 + log 18) / 3 instead).
    assert result.loss == pytest.approx((3 * math.log(2) + 2 * math.log(18)) / 5, rel=1e-6)
    assert result.accuracy == 3 / 5
    assert result.predictions.tolist() == PREDICTED and result.labels.tolist() == LABELS
    assert result.predictions.dtype == np.int64 and result.labels.dtype == np.int64
    # The confidence is the softmax probability of the predicted class: 9 / 18 for every image (peaked()).
    assert result.confidence.tolist() == pytest.approx([0.5] * 5) and result.confidence.dtype == np.float32


def test_evaluation_adds_up_the_batch_losses_in_float64():
    """Each batch's float32 loss sum is added in float64: 10,000 test images summed in float32 would
    lose digits. Here, batches of 2: the exact float64 sum of the three float32 batch sums, over 5."""
    table, labels = lookup_model().table, torch.tensor(LABELS)
    batch_sums = [F.cross_entropy(table[i:i + 2], labels[i:i + 2], reduction="sum").item() for i in (0, 2, 4)]
    assert evaluate(lookup_model(), five_images(), 2, CPU).loss == sum(batch_sums) / 5


@pytest.mark.parametrize("rank", [0, 1])
def test_evaluate_on_one_of_two_processes_takes_its_share_and_combines_the_whole(rank, monkeypatch):
    """Under torchrun with two processes, rank r evaluates its contiguous share of the five images
    (rank 0: images 0-2, rank 1: images 3-4) with rank 0's buffers, adds the loss sums over the processes and
    gathers the predictions in rank order. torch.distributed's three collectives are replaced by ones that
    play the other process, whose loss sum and predictions are worked out by hand, so this runs in one
    process (the real two-process runs are in test_distributed.py)."""
    shares = {0: [0, 1, 2], 1: [3, 4]}
    # Loss sum of a share: log 2 per image predicted right (0, 1, 3), log 18 per image predicted wrong (2, 4).
    loss_sum = {r: sum(math.log(2) if PREDICTED[i] == LABELS[i] else math.log(18) for i in ids)
                for r, ids in shares.items()}
    other = 1 - rank
    seen = {}

    def broadcast(tensor, src):  # every process ends with rank 0's buffer
        assert src == 0
        seen.setdefault("broadcast", []).append(tensor)
        tensor.copy_(lookup_model().table)

    def all_reduce(tensor, op):
        assert op == torch.distributed.ReduceOp.SUM
        seen["own_loss_sum"] = tensor.item()
        tensor += loss_sum[other]

    def all_gather(gathered, padded):  # each process sends its predictions, then their confidences (float),
        assert len(gathered) == 2 and len(padded) == 3  # zero-padded to the longest share
        theirs = torch.zeros_like(padded)
        theirs[:len(shares[other])] = (torch.tensor(0.5) if padded.is_floating_point() else  # see peaked()
                                       torch.tensor([PREDICTED[i] for i in shares[other]]))
        gathered[rank].copy_(padded)
        gathered[other].copy_(theirs)

    for name, fake in (("broadcast", broadcast), ("all_reduce", all_reduce), ("all_gather", all_gather)):
        monkeypatch.setattr(torch.distributed, name, fake)
    model = lookup_model()
    if rank == 1:  # its own copy of the buffer is stale: every image would be predicted class 9
        model.table.copy_(torch.tensor([peaked(9)] * 5))
    result = evaluate(model, five_images(), 2, CPU, World(rank, 2))
    assert len(seen["broadcast"]) == 1 and seen["broadcast"][0] is model.table  # its one buffer came from rank 0
    assert seen["own_loss_sum"] == pytest.approx(loss_sum[rank], rel=1e-6)  # it evaluated its share only
    assert result.loss == pytest.approx((3 * math.log(2) + 2 * math.log(18)) / 5, rel=1e-6)
    assert result.accuracy == 3 / 5
    assert result.predictions.tolist() == PREDICTED and result.labels.tolist() == LABELS
    assert result.confidence.tolist() == pytest.approx([0.5] * 5)


def test_per_class_accuracy_is_over_each_true_class():
    accuracy = per_class_accuracy(np.array(LABELS), np.array(PREDICTED))
    # airplane: its one image right (although airplane is predicted twice); cat: one of its two images;
    # deer: its one image wrong; bird and the other absent classes: no accuracy at all (not 0).
    assert accuracy == {"airplane": 1.0, "automobile": 1.0, "bird": None, "cat": 0.5, "deer": 0.0, "dog": None,
                        "frog": None, "horse": None, "ship": None, "truck": None}
    assert list(accuracy) == list(CLASSES)


def test_confusion_matrix_rows_are_true_classes_and_columns_predictions():
    expected = np.zeros((10, 10), dtype=int)
    for true, predicted in [(0, 0), (1, 1), (3, 2), (3, 3), (4, 0)]:
        expected[true, predicted] += 1
    np.testing.assert_array_equal(confusion(np.array(LABELS), np.array(PREDICTED)), expected)
    # Stage 1's analysis reads the same from a predictions table of class names (as runs/ hold them).
    table = pd.DataFrame({"actual": [CLASSES[i] for i in LABELS], "predicted": [CLASSES[i] for i in PREDICTED]})
    np.testing.assert_array_equal(confusion_matrix(table), expected)


class NoisyInTraining(nn.Module):
    """Batch norm and dropout: in training mode the output depends on the batch and on chance."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10), nn.BatchNorm1d(10), nn.Dropout(0.5))
        with torch.no_grad():  # running statistics far from any batch's own
            self.net[2].running_mean.fill_(3.0)
            self.net[2].running_var.fill_(0.25)

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_runs_batch_norm_and_dropout_in_eval_mode_and_restores_the_mode(training):
    model = NoisyInTraining().train(training)
    split = learnable_splits(n_train=8, n_val=8, n_test=40).test
    running = [b.clone() for b in model.net[2].buffers()]
    result = evaluate(model, split, 16, CPU)
    assert model.training is training  # the caller's mode is back
    for before, after in zip(running, model.net[2].buffers()):
        assert torch.equal(before, after)  # no batch statistics were folded into the running ones
    with torch.no_grad():
        logits = model.eval()(normalize(split.images))
    assert result.predictions.tolist() == logits.argmax(1).tolist()
    assert result.loss == pytest.approx(F.cross_entropy(logits, split.labels).item(), rel=1e-5)


# --- the loss the optimiser sees -----------------------------------------------------------------------

def test_soft_cross_entropy_is_the_expected_negative_log_likelihood_under_the_soft_target():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.4, 0.6]])
    log_p = torch.log_softmax(logits, 1)
    by_hand = -(soft * log_p).sum(1).mean()
    assert soft_cross_entropy(logits, soft, 0.0).item() == pytest.approx(by_hand.item(), rel=1e-6)
    # Label smoothing eps mixes the soft target with the uniform one: (1 - eps) * target + eps / C.
    eps = 0.2
    smoothed = -(((1 - eps) * soft + eps / 3) * log_p).sum(1).mean()
    assert soft_cross_entropy(logits, soft, eps).item() == pytest.approx(smoothed.item(), rel=1e-6)
    # Not the loss of the dominant hard labels.
    hard = soft_cross_entropy(logits, soft.argmax(1), 0.0)
    assert abs(hard.item() - by_hand.item()) > 0.1
    # Computed in float32 even from bf16 logits (as autocast gives on CUDA).
    assert soft_cross_entropy(logits.bfloat16(), soft, 0.0).dtype == torch.float32


def test_the_soft_target_reaches_the_gradient():
    logits = torch.tensor([[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 1.0, 1.0]], requires_grad=True)
    soft = torch.tensor([[0.6, 0.4, 0.0, 0.0], [0.0, 0.0, 0.25, 0.75]])
    soft_cross_entropy(logits, soft, 0.0).backward()
    # d(mean over B of cross-entropy) / d logits = (softmax - target) / B
    expected = (torch.softmax(logits.detach(), 1) - soft) / 2
    torch.testing.assert_close(logits.grad, expected)
    # The hard labels' gradient differs by (one-hot - soft) / B, e.g. 0.4 / 2 for the first image's class 0.
    hard_grad = (torch.softmax(logits.detach(), 1) - F.one_hot(soft.argmax(1), 4).float()) / 2
    assert (logits.grad - hard_grad).abs().max().item() == pytest.approx(0.2)


def one_step(targets=None) -> tuple[nn.Module, float]:
    """One SGD step (no momentum) over the whole 64-image training set, no augmentation: the model after it
    and the step's training loss."""
    cfg = TrainConfig.model_validate({
        "epochs": 1, "batch_size": 64, "optimizer": {"name": "sgd", "lr": 0.5}, "schedule": {"name": "constant"},
        "augment": {"crop_padding": 0, "flip": False}, "seed": 0})
    torch.manual_seed(0)
    model = flat_linear()
    stats = train_epoch_with(model, learnable_splits(n_train=64, n_val=16, n_test=16).train, cfg, targets)
    return model, stats.loss


def towards_class_3(images, labels):
    """A soft target: 0.4 of the image's own label, 0.6 of class 3."""
    return images, 0.4 * F.one_hot(labels, 10).float() + 0.6 * F.one_hot(torch.full_like(labels, 3), 10).float()


def test_a_batch_transforms_soft_target_is_what_training_minimises():
    data = learnable_splits(n_train=64, n_val=16, n_test=16)
    x, y = normalize(data.train.images), data.train.labels
    torch.manual_seed(0)
    expected = flat_linear()
    soft = towards_class_3(x, y)[1]
    loss = -(soft * torch.log_softmax(expected(x), 1)).sum(1).mean()
    loss.backward()
    with torch.no_grad():
        for p in expected.parameters():
            p -= 0.5 * p.grad

    model, train_loss = one_step(towards_class_3)
    assert train_loss == pytest.approx(loss.item(), rel=1e-5)  # the soft loss, before the step
    for got, want in zip(model.parameters(), expected.parameters()):
        torch.testing.assert_close(got.detach(), want.detach(), rtol=1e-5, atol=1e-6)
    # The same step on the hard labels ends elsewhere: the transform's target changed the update.
    hard, hard_loss = one_step()
    assert (hard[1].weight - model[1].weight).abs().max() > 1e-3
    assert abs(hard_loss - train_loss) > 0.05
