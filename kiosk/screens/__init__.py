"""Kivy screens: thin. They show core's state and forward touches to kiosk.core.journey."""
