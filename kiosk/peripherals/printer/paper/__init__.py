"""A paper on the printer's dot grid: the layout of a Document, its PNG picture, and Code 128."""
