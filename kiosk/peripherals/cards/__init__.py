"""Card readers: social security cards over PC/SC, resident ID cards through the SAM module, and the simulated twin."""
