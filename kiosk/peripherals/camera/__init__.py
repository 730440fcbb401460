"""The document camera: frame sources (OpenCV, simulated) behind one CameraDevice."""
