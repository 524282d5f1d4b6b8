"""Media I/O through ffmpeg: probe, streaming frame reader, streaming encoder."""
