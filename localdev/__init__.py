"""Local development stack: the Azurite blob emulator and a local Azure Functions host.

Local-only tooling: it must stay out of the deployed package (.funcignore).
"""
