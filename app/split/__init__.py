"""Long videos split across the endpoint's own workers: the parent cuts the source at keyframes
(stream copy), submits one child job per part to its own endpoint through RunPod's API, joins the
cleaned parts (stream copy) and puts the original audio back once. RunPod's queue and autoscaler do
the distributing; a child is an ordinary job with a `part` field."""
