# The binary Kanerva Machine at initialisation: how many replaced bits a least-squares
# linear read-out gets wrong from the query code, the read code and the stored code.
# Usage: python init_readout_probe.py N ROWS
import jax, jax.numpy as jnp, numpy as np, haiku as hk
from ebmm_jax.setups import specs
from ebmm_jax import setups
from ebmm_jax.baselines import kanerva, common
import sys
N = int(sys.argv[1]); rows=int(sys.argv[2])
c = specs.load(f"kanerva_binary:cpu,n={N}")
exp = setups.build(c)
def f(P, q):
  m = kanerva.BinaryKanervaMachine(128, 128, 256, rows)
  R, U = m.write(P)
  zq = m.encode(q); zs = m.encode(P)
  zr = kanerva.address(zq, R, 0.1) @ R
  return zq, zr, zs
t = hk.without_apply_rng(hk.transform(f))
pats = exp.sample_train(jax.random.PRNGKey(1), 1, N)[0]
p = t.init(jax.random.PRNGKey(0), pats, pats)
@jax.jit
def feats(key):
  k1,k2 = jax.random.split(key)
  P = exp.sample_train(k1, 1, N)[0]
  qs, known = exp.task.distort(k2, P)
  q = common.masked_queries(qs, known)
  zq, zr, zs = t.apply(p, P, q)
  return zq, zr, zs, P, known
Z = [feats(jax.random.PRNGKey(i)) for i in range(10, 10+4000//N)]
zq, zr, zs, P, known = (np.concatenate([np.asarray(z[i]) for z in Z]) for i in range(5))
def fit(X, name):
  X = np.concatenate([X, np.ones((len(X),1))],1)
  n = len(X)//2
  W = np.linalg.solve(X[:n].T@X[:n] + 1e-2*np.eye(X.shape[1]), X[:n].T@P[:n])
  pred = np.sign(X[n:]@W)
  err = ((pred != P[n:]) & ~known[n:]).sum(1).mean()
  print(name, "replaced bits wrong:", err, "of", (~known[n:]).sum(1).mean())
fit(zq, "query code")
fit(zr, "read code")
fit(zs, "stored code (oracle)")
fit(np.concatenate([zq, zr],1), "query+read")
