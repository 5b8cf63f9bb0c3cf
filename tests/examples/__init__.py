"""Live tests of the examples/ configs under real servers (see harness.py)."""
