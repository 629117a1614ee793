"""The image energies' specs (`resnet.ENERGY_MODELS`): writable floats counted
on shapes against the numbers of the closed-form formulas they replaced, the
budget searches, and the architecture fields the image setup reads."""
import pytest

from ebmm_jax.energies import resnet
from ebmm_jax.setups import images as image_setups

# The architectures the configs use: the paper's (`{}`), `runlocal`'s (widths
# 4, 1 hop; resnet_fc's code 8, representation 8) and `cpu`'s (half widths).
RUNLOCAL = dict(channels=4, hidden_size=8, output_hidden_size=16, hops=1)
ARCHS = {
    "paper": {},
    "runlocal": RUNLOCAL,
    "cpu": dict(channels=16, hidden_size=64, output_hidden_size=256, hops=2),
}
RUNLOCAL_FC = dict(RUNLOCAL, code_size=8, representation_size=8)
CPU_IMAGENET = dict(channels=32, hidden_size=128, output_hidden_size=256, hops=2)
SIZES = (1, 2, 5, 8, 32)

# Measured with the previous closed-form `resnet.memory_floats` (an if-chain
# per model name: (code_size + 1) d, 2 (18 channels + 1) d,
# (27 channels + 2) d) before it counted on shapes; None: the size is refused
# (more than the layer's width).
PREVIOUS_FLOATS = {
    ("resnet_fc", "paper"): (257, 514, 1285, 2056, 8224),
    ("resnet_fc", "runlocal"): (9, 18, 45, 72, None),
    ("resnet_fc", "cpu"): (257, 514, 1285, 2056, 8224),
    ("resnet_conv", "paper"): (1154, 2308, 5770, 9232, 36928),
    ("resnet_conv", "runlocal"): (146, 292, 730, 1168, None),
    ("resnet_conv", "cpu"): (578, 1156, 2890, 4624, 18496),
    ("resnet_imagenet", "paper"): (2306, 4612, 11530, 18448, 73792),
    ("resnet_imagenet", "runlocal"): (146, 292, 730, 1168, None),
    ("resnet_imagenet", "cpu"): (1154, 2308, 5770, 9232, 36928),
    ("resnet_lowlevel_conv", "paper"): (866, 1732, 4330, 6928, 27712),
    ("resnet_lowlevel_conv", "runlocal"): (110, 220, 550, 880, None),
    ("resnet_lowlevel_conv", "cpu"): (434, 868, 2170, 3472, 13888),
}
BUDGETS = (100, 1000, 2048, 4096, 4330, 8192, 10240, 18432, 10 ** 5)
# Measured with the previous `resnet.dynamic_size_for_budget` (largest that
# fits) and `setups.images.dynamic_size_closest_to` (nearest), one pair per
# budget of BUDGETS; None: ValueError.
PREVIOUS_SIZES = {
    ("resnet_fc", "paper"): ((None, 1), (3, 4), (7, 8), (15, 16), (16, 17), (31, 32),
                             (39, 40), (71, 72), (389, 389)),
    ("resnet_fc", "runlocal"): ((None, None),) * 9,
    ("resnet_fc", "cpu"): ((None, 1), (3, 4), (7, 8), (15, 16), (16, 17), (31, 32),
                           (39, 40), (71, 72), (389, 389)),
    ("resnet_conv", "paper"): ((None, 1), (None, 1), (1, 2), (3, 4), (3, 4), (7, 7),
                               (8, 9), (15, 16), (86, 87)),
    ("resnet_conv", "runlocal"): ((None, 1), (6, 7), (14, 14)) + ((None, None),) * 6,
    ("resnet_conv", "cpu"): ((None, 1), (1, 2), (3, 4), (7, 7), (7, 7), (14, 14),
                             (17, 18), (31, 32), (None, None)),
    ("resnet_imagenet", "paper"): ((None, 1), (None, 1), (None, 1), (1, 2), (1, 2),
                                   (3, 4), (4, 4), (7, 8), (43, 43)),
    ("resnet_imagenet", "runlocal"): ((None, 1), (6, 7), (14, 14)) + ((None, None),) * 6,
    ("resnet_imagenet", "cpu"): ((None, 1), (None, 1), (1, 2), (3, 4), (3, 4), (7, 7),
                                 (8, 9), (15, 16), (86, 87)),
    ("resnet_lowlevel_conv", "paper"): ((None, 1), (1, 1), (2, 2), (4, 5), (5, 5),
                                        (9, 9), (11, 12), (21, 21), (None, None)),
    ("resnet_lowlevel_conv", "runlocal"): ((None, 1),) + ((None, None),) * 8,
    ("resnet_lowlevel_conv", "cpu"): ((None, 1), (2, 2), (4, 5), (9, 9), (9, 10),
                                      (18, 19), (23, 24), (None, None), (None, None)),
}


def _arch(name, which):
  if name == "resnet_fc" and which == "runlocal":
    return RUNLOCAL_FC
  if name == "resnet_imagenet" and which == "cpu":
    return CPU_IMAGENET
  return ARCHS[which]


def _or_none(fn, *args, **kwargs):
  try:
    return fn(*args, **kwargs)
  except ValueError:
    return None


def test_every_energy_has_previous_numbers():
  assert {name for name, _ in PREVIOUS_FLOATS} == set(resnet.ENERGY_MODELS)


@pytest.mark.parametrize("name, which", sorted(PREVIOUS_FLOATS))
def test_floats_counted_on_shapes_match_the_previous_formula(name, which):
  arch = _arch(name, which)
  counted = tuple(_or_none(resnet.memory_floats, name, d, **arch) for d in SIZES)
  assert counted == PREVIOUS_FLOATS[(name, which)]


@pytest.mark.parametrize("name, which", sorted(PREVIOUS_SIZES))
def test_budget_searches_match_the_previous_ones(name, which):
  arch = _arch(name, which)
  found = tuple((_or_none(resnet.dynamic_size_for_budget, name, b, **arch),
                 _or_none(image_setups.dynamic_size_closest_to, name, b, **arch))
                for b in BUDGETS)
  assert found == PREVIOUS_SIZES[(name, which)]


def test_budget_errors_name_the_limits():
  with pytest.raises(ValueError, match=r"needs at least 1154 writable floats \(dynamic_size=1\)"):
    resnet.dynamic_size_for_budget("resnet_conv", 1000)
  with pytest.raises(ValueError, match=r"more than resnet_conv can make writable: "
                     r"dynamic_size is at most 128"):
    image_setups.dynamic_size_closest_to("resnet_conv", 10 ** 6)


def test_arch_fields_come_from_the_constructors():
  assert resnet.ENERGY_MODELS["resnet_fc"].arch_fields == (
      "dynamic_size", "channels", "channel_multipliers", "code_size",
      "representation_size", "hidden_size", "output_hidden_size", "hops")
  assert resnet.ENERGY_MODELS["resnet_lowlevel_conv"].arch_fields == (
      "dynamic_size", "channels", "hidden_size", "output_hidden_size", "hops")
  # The setup passes every energy's fields, and no other.
  assert set(image_setups.ARCH_FIELDS) == {
      f for spec in resnet.ENERGY_MODELS.values() for f in spec.arch_fields}
  assert "name" not in image_setups.ARCH_FIELDS
