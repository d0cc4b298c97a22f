"""reach's experiment machinery: specs, suites, training, probes, executors, store, analysis, report, CLI."""
