"""Reading trained runs: evaluation (Appendix A's protocols), Table 1, the
recipe study, analyses (Figures 6, 9), plots and the paper's numbers."""
