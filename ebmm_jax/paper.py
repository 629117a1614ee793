"""The paper's reported numbers (Bartunov et al. 2020), to print next to ours."""

# Table 1 (Appendix A.2): error bits at N = 16, 32, 48, 64, 96 stored patterns.
TABLE1_NS = (16, 32, 48, 64, 96)
TABLE1 = {
    "Hopfield Hebb": (0.4, 5.0, 9.8, 13.0, 16.5),
    "Hopfield Storkey": (0.0, 0.9, 6.3, 11.3, 17.1),
    "Hopfield pseudo-inverse": (0.0, 0.0, 0.3, 4.3, 22.5),
    "Differentiable plasticity": (3.0, 13.2, 20.8, 26.3, 34.9),
    "MANN": (0.1, 0.2, 1.8, 4.25, 9.6),
    "LSTM": (30, 58, 63, 64, 64),
    "Memory Networks": (0.0, 0.0, 0.0, 0.0, 10.5),
    "EBMM": (0.0, 0.0, 0.1, 0.5, 4.2),
}


def table1_cell(model: str, num_patterns: int) -> float:
  if model not in TABLE1:
    raise KeyError(f"Table 1 has no row {model!r}; rows: {sorted(TABLE1)}.")
  if num_patterns not in TABLE1_NS:
    raise KeyError(f"Table 1 has no column N={num_patterns}; columns: {TABLE1_NS}.")
  return TABLE1[model][TABLE1_NS.index(num_patterns)]
