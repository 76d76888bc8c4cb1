"""`robotok demo` stages, the replay/listener nodes they use, and the node-process helper."""
