"""Small-class patch mining (spec §6) and MLSL's OHEM and pseudo weak labels (spec §7.2, §9.2)."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pipeline_lib.methods.self_training import FineTuneConfig, loss_grid
from pipeline_lib.selftrain.mining import MiningAugmentation, MiningClasses, mined_window, mining_classes
from pipeline_lib.selftrain.mlsl import PresenceHead, ohem_cross_entropy, presence_loss, weak_labels


def test_mining_classes_priority_below_share_and_rarest():
    pixels = np.array([5000, 3000, 2, 0, 100, 900])  # shares: class 2 = 0.0002, class 3 = 0
    classes = mining_classes(pixels, mine_thresh=0.001, mine_id_number=3)
    assert classes.priority == (2, 3)
    assert classes.rare == (3, 2, 4)


def test_mined_window_is_centred_on_a_small_class_pixel_in_the_safe_interior():
    label = torch.zeros(40, 60, dtype=torch.long)
    label[20, 30] = 7  # the only small-class pixel, well inside
    label[1, 1] = 9  # a priority class, but too close to the border for a centred crop
    classes = MiningClasses(priority=(9,), rare=(7,))
    for seed in range(5):
        top, left = mined_window(label, (10, 16), classes, torch.Generator().manual_seed(seed))
        assert (top + 5, left + 8) == (20, 30)  # window centre = the mined pixel
    assert mined_window(torch.zeros(40, 60, dtype=torch.long), (10, 16), classes, torch.Generator()) is None


def test_priority_classes_win_over_rare_ones():
    label = torch.zeros(40, 60, dtype=torch.long)
    label[15, 20] = 7
    label[25, 40] = 9
    top, left = mined_window(label, (10, 16), MiningClasses((9,), (7,)), torch.Generator().manual_seed(0))
    assert (top + 5, left + 8) == (25, 40)


def test_mining_augmentation_crops_around_the_mined_class():
    image = torch.rand(3, 64, 96) * 255
    label = torch.zeros(64, 96, dtype=torch.long)
    label[30:34, 50:54] = 12
    transform = MiningAugmentation((1.0, 1.0), (16, 16), 0.0, MiningClasses((12,), ()), mine_port=1.0)
    for seed in range(5):
        crop, crop_label = transform(image, label, torch.Generator().manual_seed(seed))
        assert crop.shape == (3, 16, 16) and crop_label.shape == (16, 16)
        assert (crop_label[8, 8] == 12).item()
    never = MiningAugmentation((1.0, 1.0), (16, 16), 0.0, MiningClasses((12,), ()), mine_port=0.0)
    hits = sum(int((never(image, label, torch.Generator().manual_seed(s))[1] == 12).any()) for s in range(20))
    assert hits < 10  # random crops rarely land on the 4x4 square


def test_ohem_keeps_hard_cells_or_at_least_min_kept():
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 0] = torch.tensor([4.0, 3.0, -1.0, 0.0])
    labels = torch.zeros(1, 1, 4, dtype=torch.long)
    per_cell = torch.nn.functional.cross_entropy(logits, labels, reduction="none").flatten()
    hard = ohem_cross_entropy(logits, labels, thresh=0.6, min_kept=1)  # p_y: 0.98, 0.95, 0.27, 0.5
    assert hard.item() == pytest.approx(per_cell[2:].mean().item())
    three = ohem_cross_entropy(logits, labels, thresh=0.6, min_kept=3)
    assert three.item() == pytest.approx(per_cell[1:].mean().item())
    labels[0, 0, 2:] = 255
    assert ohem_cross_entropy(logits, labels, 0.6, 1).item() == pytest.approx(per_cell[:2].max().item())  # the hardest


def test_weak_labels_use_the_frequency_scaled_presence_rule():
    labels = torch.full((1, 10, 10), 255, dtype=torch.long)
    labels[0, :2] = 0  # 20 road cells: needs 0.0225*100*0.3232 = 0.73 -> present
    labels[0, 5, 0] = 6  # 1 traffic-light cell: present
    targets = weak_labels(labels, 19, 0.0225)
    assert targets[0].nonzero().flatten().tolist() == [0, 6]
    strict = weak_labels(labels, 19, 1.0)  # road needs 32.3 cells now
    assert strict[0].nonzero().flatten().tolist() == [6]


def test_presence_head_and_loss_shapes():
    head = PresenceHead(in_channels=8, num_classes=19, fc_width=4)
    logits = head(torch.randn(2, 8, 5, 5))
    assert logits.shape == (2, 19)
    loss = presence_loss(logits, torch.zeros(2, 19))
    single = presence_loss(logits[:1], torch.zeros(1, 19)) + presence_loss(logits[1:], torch.zeros(1, 19))
    assert loss.item() == pytest.approx(single.item())  # summed over images (§7.3)


# --- the round's loss grid (issue 16 point 2; CBST issegm/data.py L337-339) ---------------------------


def test_default_loss_is_cbsts_stride8_cells_against_labels_point_sampled_at_offset_4():
    shipped = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    assert shipped["self_training"]["training"]["loss_resolution"] == "stride8"
    assert FineTuneConfig(iterations=1, batch_size=1, lr=0.1).loss_resolution == "stride8"

    labels = torch.arange(96 * 160).reshape(1, 96, 160)
    logits = torch.randn(1, 19, 12, 20)
    grid_logits, grid_labels = loss_grid(logits, labels, "stride8")
    assert grid_logits is logits  # no upsampling: one term per output cell
    assert grid_labels.shape == (1, 12, 20)
    assert grid_labels[0, 0, 0] == labels[0, 4, 4] and grid_labels[0, 11, 19] == labels[0, 92, 156]


def test_loss_terms_per_batch_are_cells_at_stride8_and_pixels_at_label_resolution():
    """What OHEM's min_kept (256) is counted against: 960 cells for four 96x160 crops, not 61 440 pixels."""
    torch.manual_seed(0)
    logits = torch.randn(4, 19, 12, 20) * 4
    labels = torch.randint(0, 19, (4, 96, 160))
    cells = loss_grid(logits, labels, "stride8")
    pixels = loss_grid(logits, labels, "label")
    assert cells[1].numel() == 960 and pixels[1].numel() == 61440
    with pytest.raises(ValueError, match="unknown loss_resolution 'pixel'"):
        loss_grid(logits, labels, "pixel")
