# The PyInstaller entry script: studio/frozen.py's main(), started from outside the package.
# (Pointing PyInstaller at studio/frozen.py directly would put studio/ itself on the analysis path, where a
# module named like a standard-library one would shadow it in the bundle; tests/test_inspect.py checks none is.)
import os

# The bundle is CPU-only: its TensorFlow has no CUDA kernels left (packaging/elf_fatbin.py cuts them out), so
# TensorFlow must never place an op on a GPU, even on a machine with a system-wide CUDA runtime. No visible
# device means no GPU device and no kernel launch. The worker processes inherit it.
os.environ["CUDA_VISIBLE_DEVICES"] = ""

from studio.frozen import main  # noqa: E402

raise SystemExit(main())
