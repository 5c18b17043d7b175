"""What operators see: Prometheus metrics (and, later, logs and traces). Neutral: every door and
adapter may import it; it imports no door."""
