"""Storage: the results folder (lock, append-only runs.jsonl, atomic writes, folder names), the typed run
record and its outcomes, the flat runs table (CSV/Parquet), and provenance (versions, hardware, threads)."""
