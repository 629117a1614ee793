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


# Table 2 (Appendix A.3): non-memory baselines' reconstruction error (Hamming
# for Omniglot, squared error for CIFAR-10 and ImageNet 64x64), under 25%
# block noise or 15% salt-and-pepper noise. Deep Image Prior is left out: the
# text does not say which column its single numbers belong to.
TABLE2 = {
    ("block", "omniglot"): {"VAE": 109.08, "DAE": 36.08},
    ("block", "cifar10"): {"VAE": 544.72, "DAE": 24.66},
    # Deep Image Prior, one cell per noise: the text of Table 2 does not say
    # its column; only ImageNet's squared errors are of its size (a 15%
    # salt-and-pepper query on 32x32 Omniglot has about 77 wrong pixels).
    # "*": it is told where the block is.
    ("block", "imagenet64"): {"VAE": 1889.79, "DAE": 141.07, "Deep Image Prior*": 170.36},
    ("salt_and_pepper", "omniglot"): {"VAE": 84.08, "DAE": 9.57},
    ("salt_and_pepper", "cifar10"): {"VAE": 430.33, "DAE": 8.82},
    ("salt_and_pepper", "imagenet64"): {"VAE": 1385.29, "DAE": 69.20,
                                        "Deep Image Prior": 467.92},
}
TABLE2_BLOCK_FRACTION = 0.25  # Share of the image's pixels under the block.
TABLE2_NOISE_RATE = 0.15  # Salt-and-pepper rate.

# Table 3 (Appendix A.7): EBMM's Hamming error on Omniglot, batches of 32,
# C.5 energy, by batch sampling and memory size.
TABLE3_MEMORY = ("4K", "5K")
TABLE3 = {
    "uniform": (7.18, 5.37),
    "2 classes": (6.22, 2.57),
}
