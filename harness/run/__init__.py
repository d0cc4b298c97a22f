"""Running: the model (encoder, learner, head), the one training loop, the sweep with its distance ladder, and
the executors that place runs (in-process, a local process pool, Ray)."""
