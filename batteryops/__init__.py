"""batteryops: an orchestrated MLOps pipeline for battery fleets."""
