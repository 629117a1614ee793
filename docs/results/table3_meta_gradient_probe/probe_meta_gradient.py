"""Meta-gradient norms of a trained C.5 model (Table 3) at N = 4, per batch,
and with one change to the write at a time.

  EBMM_DATA_DIR=DATA_DIR python probe_meta_gradient.py WORKDIR N BATCHES [MODE]

MODE: "scale" (the writing rates times 1, 0.5, 0.25), "first_order" (no
second-order term through the write), "no_alpha" (the gradient penalty
weight alpha set to exp(-30), i.e. off). Prints one JSON line per batch
(loss, meta-gradient norm, the largest rise of the writing loss W over the T
write steps, W per step) and a SUMMARY line per setting."""
import json, os, sys
import numpy as np, jax, jax.numpy as jnp
from ebmm_jax import setups
from ebmm_jax.core import memory as memory_lib
from ebmm_jax.training import loop as training

workdir, n, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mode = sys.argv[4] if len(sys.argv) > 4 else "scale"
cfg = training.load_config(workdir)
cfg.data.data_dir = os.environ["EBMM_DATA_DIR"]
cfg.data.num_patterns = n
cfg.data.curriculum = ""
exp = setups.build(cfg)
model = exp.model.first_order() if mode == "first_order" else exp.model
mp = training.load_meta_params(cfg, workdir)
rates = exp.rule.rates

def scaled(mp, s):
  lr = jax.tree_util.tree_map(
      lambda r: jnp.asarray(memory_lib.inverse_positive(np.asarray(memory_lib.positive(r, rates)) * s, rates), r.dtype),
      mp.write.learning_rates)
  return mp._replace(write=mp.write._replace(learning_rates=lr))

def norm(t):
  return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree_util.tree_leaves(t)))

@jax.jit
def probe(mp, p, k):
  (l, met), g = jax.value_and_grad(lambda m: model.loss(m, p, k), has_aux=True)(mp)
  alpha, beta = memory_lib.penalty_weights(mp.write.penalties, rates)
  w = met["writing_energy"] + alpha * met["writing_grad_penalty"] + beta * met["writing_prior_penalty"]
  return l, norm(g), w, met["score"][-1] if "score" in met else l

pats = exp.sample_train(jax.random.PRNGKey(7), batches, n)
rows = []
def no_alpha(mp):
  raw = np.asarray(mp.write.penalties).copy()
  raw[0] = -30.0 if rates == "log" else -30.0
  return mp._replace(write=mp.write._replace(penalties=jnp.asarray(raw, mp.write.penalties.dtype)))
SCALES = (1.0, 0.5, 0.25) if mode == "scale" else (1.0,)
for s in SCALES:
  m = scaled(mp, s) if mode != "no_alpha" else no_alpha(mp)
  for b in range(batches):
    l, gn, w, sc = jax.device_get(probe(m, pats[b], jax.random.PRNGKey(100 + b)))
    rise = float(np.max(np.diff(w))) if len(w) > 1 else 0.0
    rows.append(dict(scale=s, batch=b, loss=float(l), grad_norm=float(gn), max_rise=rise, writing_loss=np.round(w, 3).tolist()))
    print(json.dumps(rows[-1]), flush=True)
for s in SCALES:
  r = [x for x in rows if x["scale"] == s]
  g = np.array([x["grad_norm"] for x in r]); l = np.array([x["loss"] for x in r])
  up = np.array([x["max_rise"] > 0.1 for x in r])
  print(f"SUMMARY mode={mode} scale={s} median_norm={np.median(g):.3g} max_norm={g.max():.3g} "
        f"frac_norm>1e4={np.mean(g > 1e4):.2f} frac_rise>0.1={up.mean():.2f} "
        f"median_norm_rise={np.median(g[up]) if up.any() else float('nan'):.3g} "
        f"median_norm_norise={np.median(g[~up]) if (~up).any() else float('nan'):.3g} mean_loss={l.mean():.1f}", flush=True)
