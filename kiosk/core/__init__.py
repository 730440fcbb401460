"""The domain: no Kivy, no hardware. Screens and drivers depend on this, never the reverse."""
