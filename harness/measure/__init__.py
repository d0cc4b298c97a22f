"""Measurement beyond accuracy: FLOP counting, and the probes that measure Table 1 of Vaswani et al. (gradient
path length, throughput and latency against n, FLOPs against n and d)."""
