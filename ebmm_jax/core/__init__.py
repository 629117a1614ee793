"""The algorithm, pure JAX: writing (Eq. 3-4) and reading (Eq. 1, Appendix B)
in `memory`, the meta-loss and meta-step (Eq. 2, 5) in `meta`, the
`MemoryModel` interface every memory implements (`models`), tasks and
distortions (Section 4), parameter-tree helpers (`params`), the one search
from a memory budget to a model's size (`budget`), the ETA of progress lines
(`progress`)."""
