import torch

torch.set_num_threads(1)


def pytest_configure(config):
    # pyproject's addopts pass --benchmark-disable so that the ordinary run executes each benchmark body once;
    # --benchmark-only (the speed-regression suite, README) asks for the opposite, and wins.
    if config.getoption("benchmark_only", default=False):
        config.option.benchmark_disable = False
