"""PC/SC card readers (pyscard): social security cards through pcscd."""
