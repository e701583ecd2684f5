"""Infrastructure, the bottom floor: content-addressed stages, file locks, hashing."""
