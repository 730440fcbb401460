"""The ESC/POS receipt printer: the driver, its connections, status, job journal and model profiles;
escpos/ (encoder, parser), paper/ (layout, PNG, Code 128), the emulator and the simulated printer.
"""
