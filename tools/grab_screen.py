"""Save a screenshot of the whole X screen: python tools/grab_screen.py OUT.png (needs DISPLAY)."""

import sys

from PySide6.QtGui import QGuiApplication

app = QGuiApplication(sys.argv[:1])
ok = app.primaryScreen().grabWindow(0).save(sys.argv[1])
print("grabbed", sys.argv[1], ok)
