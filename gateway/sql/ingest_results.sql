-- ingest_results: the outcome of every staged row.
SELECT ord, outcome FROM stage_out
