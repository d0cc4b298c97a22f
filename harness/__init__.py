"""reach's experiment machinery, one subpackage per stage of the pipeline, in the order data flows:

    config/   what to run: RunSpec, suites (built-in and TOML), the learner/task registry, probe options
    run/      running it: the model, the one training loop, the sweep and its ladder, executors (local, Ray)
    store/    keeping it: the results folder, the typed run record, the runs table, provenance
    measure/  the probes: FLOPs, gradient path length, throughput and latency, Table 1 measured
    report/   reading it: analysis, findings, tables, figures, report.html and summary.md, compare
    cli.py    argument parsing, and the one place that turns a ReachError into exit code 2

``errors`` (ReachError) and ``text`` (hints and number formatting) serve every stage. Imports point one way,
from a later stage to an earlier one (report -> measure -> run -> store -> config); tests/test_layers.py
reads the imports and fails on an arrow that runs back.
"""
