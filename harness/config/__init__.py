"""Configuration: what a sweep runs. RunSpec (the validated unit of work), suites, the registry that turns
names into learner and task classes, and the probes' option schema. Imports nothing else of harness."""
