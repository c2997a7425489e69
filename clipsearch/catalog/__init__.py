"""The upstream `videos` table: which videos are searchable, their frame counts, timing and cuts,
each row's numbers checked where they are parsed. Imports `runtime`."""
