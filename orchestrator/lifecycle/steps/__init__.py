"""Steps: the tool's own plumbing (render, pki, cluster, stack, reset) and the lab's step kinds, one module each,
listed in registry.py."""
