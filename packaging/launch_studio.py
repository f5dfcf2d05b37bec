# The PyInstaller entry script: studio/frozen.py's main(), started from outside the package.
# (Pointing PyInstaller at studio/frozen.py directly would put studio/ itself on the analysis path, and
# studio/inspect.py would then shadow the standard library's `inspect` module in the bundle.)
from studio.frozen import main

raise SystemExit(main())
