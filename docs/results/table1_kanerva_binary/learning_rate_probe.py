# The binary Kanerva Machine trained in-process with Adam at one learning rate (no clipping).
# Usage: python learning_rate_probe.py LR STEPS [section.field=value ...]
import jax, jax.numpy as jnp, numpy as np, optax, sys, time
from ebmm_jax.setups import specs
from ebmm_jax import setups
lr = float(sys.argv[1]); steps = int(sys.argv[2]); extra = sys.argv[3:]
c = specs.load("kanerva_binary:cpu,n=16", extra)
exp = setups.build(c)
params = exp.model.init(jax.random.PRNGKey(0))
opt = optax.adam(lr); st = opt.init(params)
@jax.jit
def step(params, st, key):
  k1, k2 = jax.random.split(key)
  P = exp.sample_train(k1, 1, 16)[0]
  (l, m), g = jax.value_and_grad(exp.model.loss, has_aux=True)(params, P, k2)
  u, st = opt.update(g, st, params)
  return optax.apply_updates(params, u), st, l, m["score"][-1], optax.global_norm(g)
t=time.time(); acc=[]
for i in range(steps):
  params, st, l, s, gn = step(params, st, jax.random.PRNGKey(i))
  acc.append((float(l), float(s)))
  if (i+1) % 100 == 0:
    a = np.mean(acc[-100:], 0); print(i+1, "loss %.2f score %.2f gn %.1f  %.0fs" % (a[0], a[1], gn, time.time()-t), flush=True)
