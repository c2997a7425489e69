"""The upstream `videos` table: which videos are searchable, their frame counts, timing and cuts,
each row's numbers checked where they are parsed (`whole_numbers`); and a video's `frames/` as S3
lists it (`frames`). Imports `runtime`, `layout` and `whole_numbers`."""
