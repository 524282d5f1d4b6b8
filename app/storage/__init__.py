"""Getting a job's input onto local disk and its result to where the caller wants it."""
