"""Personal data over its life: what is held where (registry), erasure with proof, retention
jobs and data exports."""
