r"""The binary-strings recipe study: which meta-training choices make EBMM
learn to remember in CPU minutes (Table 1's protocol, Appendix A.2).

  python -m experiments.recipe_study --study=configs/recipe_study.py:n=16 \
      --workdir=runs/recipe_study_n16

Every variant starts from the paper's model and protocol
(`configs/binary.py:paper`, memory Linear(128 -> 63) = 8,127 floats) shrunk to
the CPU like the first `cpu` recipe (hidden 256, AdamW 3e-3, writing rates
initialised at 1e-2: variant `old_cpu`), and changes what its name says;
`+` names a change on top of `log_rates_lr` (log-space rates with their own
learning rate), `+large_init+...` one on top of `+large_init`. A study can
train any subset (`--variants`). Arguments after the colon:
  n=K        N patterns per memory (16 and 64 were studied).
  budget=S   training seconds per variant (default 120 at N = 16, 300 above).
  quick      a seconds-scale study of two variants (tests, smoke checks).
"""
import ml_collections

from ebmm_jax.configs import base

# The first `cpu` recipe of configs/binary.py: the paper's model with a
# smaller recurrent state and a faster meta learning rate.
OLD_CPU = ("energy.hidden_size=256", "optim.learning_rate=0.003",
           "memory.write_lr_init=0.01", "train.log_every=25",
           "train.checkpoint_every_secs=60")
LOG_RATES_LR = OLD_CPU + ("memory.rates=log", "optim.rate_learning_rate=0.03")
# Rates started near where log_rates_lr learns them to be (N = 16 and 64).
LARGE_INIT = LOG_RATES_LR + ("memory.write_lr_init=1.0", "memory.read_step_size_init=10.0")


def variants(n: int):
  v = [
      ("old_cpu", OLD_CPU),
      ("log_rates", OLD_CPU + ("memory.rates=log",)),
      ("rates_lr", OLD_CPU + ("optim.rate_learning_rate=0.03",)),
      ("log_rates_lr", LOG_RATES_LR),
      ("+rates_lr_0.1", LOG_RATES_LR + ("optim.rate_learning_rate=0.1",)),
      ("+large_init", LARGE_INIT),
      ("+center_start", LOG_RATES_LR + ("memory.read_start=center",)),
      ("+straight_through", LOG_RATES_LR + ("memory.projection_gradient=straight_through",)),
      ("+shared_rates", LOG_RATES_LR + ("memory.write_rate_sharing=shared",)),
      ("+last_iterate", LOG_RATES_LR + ("memory.meta_loss_iterates=last",)),
      ("+first_order_1k", LOG_RATES_LR + ("memory.first_order_steps=1000",)),
      ("+clip_1", LOG_RATES_LR + ("optim.clip_global_norm=1.0",)),
      ("+weights_lr_1e-3", LOG_RATES_LR + ("optim.learning_rate=0.001",)),
      ("+meta_batch_2", LOG_RATES_LR + ("train.meta_batch_size=2",)),
      ("+hidden_128", LOG_RATES_LR + ("energy.hidden_size=128",)),
  ]
  v += [
      ("+anneal_iterates", LOG_RATES_LR + ("memory.iterate_anneal_steps=2000",)),
      ("+large_init+rates_lr_0.1", LARGE_INIT + ("optim.rate_learning_rate=0.1",)),
      ("+large_init+mix", LARGE_INIT + ("data.train_num_patterns=16,32,48,64,96",)),
  ]
  if n > 16:
    v += [("+curriculum", LOG_RATES_LR + (f"data.curriculum=16@0,{n}@1000",)),
          ("+large_init+curriculum", LARGE_INIT + (f"data.curriculum=16@0,{n}@1000",))]
  return v


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  choice = ml_collections.ConfigDict(dict(study=dict(n=16, budget=0.0, quick=False)))

  base.apply_variants(choice, arg, "configs/recipe_study.py",
                      {"quick": lambda c: setattr(c.study, "quick", True)},
                      {"n": base.integer("study", "n"), "budget": base.real("study", "budget")})
  n, budget, quick = choice.study.n, choice.study.budget or None, choice.study.quick
  c = ml_collections.ConfigDict()
  c.base = f"configs/binary.py:paper,n={n}"  # The model every variant changes.
  c.variants = tuple(variants(n))  # (name, overrides): trained in this order.
  c.budget_secs = budget or (120.0 if n <= 16 else 300.0)  # Training seconds each.
  c.table_secs = (30.0, 60.0, 120.0) if n <= 16 else (60.0, 150.0, 300.0)
  c.table_steps = (500, 1000) if n <= 16 else (500, 1000, 2000)  # Meta-step budgets.
  c.eval_batches = 200  # Test batches of each variant's final checkpoint.
  c.eval_seed = 12345
  if quick:
    tiny = ("energy.hidden_size=8", "energy.dynamic_size=3", "energy.hops=1",
            "memory.write_steps=1", "memory.read_steps=2", "train.log_every=2",
            "train.checkpoint_every_secs=0", "eval.batches_per_call=2")
    c.variants = (("old_cpu", OLD_CPU[1:] + tiny), ("log_rates_lr", LOG_RATES_LR[1:] + tiny))
    c.budget_secs = budget or 4.0
    c.table_secs = (1.0, 2.0)
    c.table_steps = (10,)
    c.eval_batches = 4
  return c
