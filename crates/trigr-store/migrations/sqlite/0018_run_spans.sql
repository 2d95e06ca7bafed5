-- Run traces: every run has a W3C trace id and a root span id, minted at trigger (or joined to
-- the caller's trace by its traceparent header, or to the parent run's trace), and keeps the
-- spans its workers report (trigr_engine::spans). Runs from before this migration have none.
ALTER TABLE runs ADD COLUMN trace_id TEXT;
ALTER TABLE runs ADD COLUMN span_id TEXT;
-- The caller's span (traceparent) or the parent run's root span; NULL for a trace's first run.
ALTER TABLE runs ADD COLUMN parent_span_id TEXT;

-- One span of a run: its attempt, a step, a wait, a child trigger, an HTTP call, or a span
-- from OTLP intake. Times are nanoseconds since the Unix epoch, as OTLP has them.
CREATE TABLE run_spans (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    attributes TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX run_spans_run ON run_spans (run_id, seq);
