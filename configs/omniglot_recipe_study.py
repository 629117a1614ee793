r"""The image recipe study: does the binary-strings recipe make the Omniglot
C.3 memory remember, and at which memory sizes (Section 4.1, Figure 3a).

  python -m experiments.recipe_study --study=configs/omniglot_recipe_study.py \
      --workdir=runs/omniglot_study --data_dir=DATA_DIR

Every variant starts from `configs/omniglot_conv.py:cpu` (the C.3 network at
half width, 2 hops; AdamW 1e-3; softplus writing rates initialised at 1e-2)
on a reduced protocol, stated next to every number: N = 16 images per memory
(the paper: 64), with the paper's 32x32 binarized Omniglot, 16x16 block of
{0, 1} noise and test alphabets never seen in training. Variants:
  old_cpu              the `cpu` recipe as it was, 8,092 floats (d = 14).
  recipe               the binary recipe (RESULTS.md): writing rates, alpha,
                       beta and read step sizes in log space with their own
                       learning rate 3e-2; the learning rates at their peak for
                       80% of the budget, then 10x lower (seconds clock).
                       8,092 floats.
  recipe+large_init    `recipe` with the writing rates started at 0.1.
  recipe_mem2k         `recipe` at 2,312 floats (d = 4).
  recipe_mem578        `recipe` at 578 floats (d = 1).
With `images` (what is specific to image energies; N = 4 by default, where
the C.3 memory learns to hold its items within CPU minutes, and 600 s per
variant), every variant is `recipe` at 8,092 floats with one change:
  recipe               as above.
  read_step_0.3        the first read step size γ(1) started at 0.3 instead
                       of 1 (pixels live in [0, 1]).
  rates_across_layers  one writing rate per step shared by both writable
                       layers (`memory.write_rate_sharing=per_step`) instead
                       of one per step and layer.
  paper_width          the paper's C.3 widths (ResBlocks 32, 64; recurrent
                       state 128) instead of the `cpu` half widths; d = 7
                       (8,078 floats).
Arguments after the colon:
  budget=S   training seconds per variant (default 1200; `images`: 600).
  n=K        N images per memory (default 16; `images`: 4).
  images     the image-specific variants above.
  quick      a seconds-scale study of two tiny variants (tests).
"""
import ml_collections

from ebmm_jax.configs import base

LOG = ("memory.rates=log", "optim.rate_learning_rate=0.03")
# The time budget ends the run (no step budget may cut the schedule short).
DROP = ("optim.schedule=drop", "optim.drop_at=0.8", "optim.final_fraction=0.1",
        "optim.clock=seconds", "train.num_steps=100000000")
RECIPE = LOG + DROP


def variants():
  mem = lambda floats: (f"energy.memory_budget={floats}",)
  return (
      ("old_cpu", mem(8092)),
      ("recipe", mem(8092) + RECIPE),
      ("recipe+large_init", mem(8092) + RECIPE + ("memory.write_lr_init=0.1",)),
      ("recipe_mem2k", mem(2312) + RECIPE),
      ("recipe_mem578", mem(578) + RECIPE),
  )


def image_variants():
  recipe = ("energy.memory_budget=8092",) + RECIPE
  return (
      ("recipe", recipe),
      ("read_step_0.3", recipe + ("memory.read_step_size_init=0.3",)),
      ("rates_across_layers", recipe + ("memory.write_rate_sharing=per_step",)),
      ("paper_width", recipe + ("energy.channels=32", "energy.hidden_size=128")),
  )


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  choice = ml_collections.ConfigDict(dict(study=dict(n=0, budget=0.0, quick=False,
                                                     images=False)))

  base.apply_variants(choice, arg, "configs/omniglot_recipe_study.py",
                      {"quick": lambda c: setattr(c.study, "quick", True),
                       "images": lambda c: setattr(c.study, "images", True)},
                      {"n": base.integer("study", "n"), "budget": base.real("study", "budget")})
  images, quick = choice.study.images, choice.study.quick
  n = choice.study.n or (4 if images else 16)
  c = ml_collections.ConfigDict()
  c.base = "configs/omniglot_conv.py:cpu"  # The model every variant changes.
  common = (f"data.num_patterns={n}", "train.log_every=10",
            "train.checkpoint_every_secs=120")
  c.variants = tuple((name, common + o)
                     for name, o in (image_variants() if images else variants()))
  c.budget_secs = choice.study.budget or (600.0 if images else 1200.0)
  c.table_secs = tuple(c.budget_secs * f for f in (0.25, 0.5, 1.0))
  c.table_steps = (100, 300)
  c.eval_batches = 200
  c.eval_seed = 12345
  if quick:
    c.base = "configs/omniglot_conv.py:runlocal"
    tiny = ("train.log_every=2", "train.checkpoint_every_secs=0",
            "eval.batches_per_call=2", "data.num_patterns=4")
    c.variants = (("old_cpu", tiny), ("recipe", tiny + RECIPE))
    c.budget_secs = choice.study.budget or 4.0
    c.table_secs = (1.0, 2.0)
    c.table_steps = (10,)
    c.eval_batches = 4
  return c
