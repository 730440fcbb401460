"""Image analysis for the document camera: codes and pages.

numpy, OpenCV and zxing-cpp live here; no Kivy and no device. Camera drivers and the
technician commands use it; core never imports it (core sees only the types in core.devices).
"""
