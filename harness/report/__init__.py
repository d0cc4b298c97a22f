"""Reading results: aggregations (reach, per-distance cells), findings, tables and figures, report.html and
summary.md through Jinja templates, the console summary, and ``compare`` (the regression gate)."""
