"""Stand-in for TensorFlow's `_pywrap_profiler_plugin` extension (80 MB) in the packaged app.

TensorFlow imports it only for `tf.profiler.experimental.client.trace()` / `monitor()`, which profile a remote
TensorFlow server; the studio never calls them. Importing stays possible, calling says why it can't work.
"""


def _unavailable(*args, **kwargs):
    raise RuntimeError("TensorFlow's remote profiler client is not included in Model Conversion Studio's app")


trace = _unavailable
monitor = _unavailable
