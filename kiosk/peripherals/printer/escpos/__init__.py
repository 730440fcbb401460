"""ESC/POS on the wire: the encoder (layout items → bytes) and the strict parser (bytes → printout)."""
