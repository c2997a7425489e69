"""Finding the nearest frames: the query the backends answer, the two backends (`memory`: an exact
scan of the cached vectors; `s3vectors`: an Amazon S3 Vectors index and its ledgers), exact ranking,
and batch's sync of the index. Imports `cache`, `catalog`, `runtime` and the foundations; never the
search function's logic."""
