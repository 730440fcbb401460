"""The resident ID card reader: a certified SAM module on a serial line (frames, text layouts, driver)."""
