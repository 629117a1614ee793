"""Table 3 (Appendix A.7) as Markdown: the C.5 model with uniform batches and
with batches of exactly 2 characters, at each memory size, next to the
paper's numbers. `experiments/correlated.py` is its launcher."""
import os
from typing import List, Mapping, Sequence

import ml_collections

from ebmm_jax.configs import image_base
from ebmm_jax.reporting import paper
from ebmm_jax.reporting import runs
from ebmm_jax.reporting import tables
from ebmm_jax.setups import specs

# Table 3's rows: (name, data.batch_classes, workdir prefix).
SAMPLINGS = (("uniform", 0, "uniform"), ("2 classes", 2, "2class"))


def points(config: ml_collections.ConfigDict, mems: Sequence[str],
           root: str) -> List[runs.Point]:
  """One point per row and memory size (`mem=K`), in `root/<prefix>_mem_<K>`;
  `config` is the 2-class row's (raises ValueError otherwise)."""
  if config.data.batch_classes != 2:
    raise ValueError(f"The config gives data.batch_classes="
                     f"{config.data.batch_classes}; Table 3's correlated row needs 2.")
  out = []
  for name, classes, prefix in SAMPLINGS:
    for m in mems:
      c = specs.with_overrides(config, [
          f"data.batch_classes={classes}",
          f"energy.memory_budget={image_base.parse_memory_budget(m)}"])
      out.append(runs.Point(f"{name}, mem={m}", c, os.path.join(root, f"{prefix}_mem_{m}")))
  return out


def table(rows: Sequence[Mapping], mems: Sequence[str]) -> str:
  """The rows of `points` (scored by `runs.evaluate_points`) beside the paper's."""
  header = (["batches"] + [f"ebmm-jax, mem={m}" for m in mems]
            + [f"paper, {m}" for m in paper.TABLE3_MEMORY])
  lines = []
  for i, (name, _, _) in enumerate(SAMPLINGS):
    mine = rows[i * len(mems):(i + 1) * len(mems)]
    cells = [f"{tables.cell(r, pct_digits=0)} ({r['memory_floats']} "
             f"floats, query {r['query_mean']:.1f})" for r in mine]
    lines.append([name] + cells + [f"{v:g}" for v in paper.TABLE3[name]])
  return tables.markdown(header, lines)
