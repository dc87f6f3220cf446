"""Cell physics: thermal-abuse kinetics and the oven test."""
