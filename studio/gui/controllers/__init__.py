"""What the main window does, one controller per concern; the window itself only lays the widgets out.

- `opening`: detect and open models (pickle consent, Python factories), Open Recent, closing a model;
- `selection`: what the Graph / Summary / Convert panel / Compare tab show for the selected source or artifact;
- `convert`: a conversion from the Convert panel, and its command line;
- `compare`: comparing again with the Compare tab's inputs, comparisons as they arrive, exports;
- `jobs`: every job's events (the Log tab), finished and failed jobs, cancelling (asks first for a long job);
- `help`: About (package versions read by a worker) and the shortcuts list;
- `explain`: the Layers tab: per-layer explain jobs, their reports, the graphs coloured by error, the Model
  Explorer export.

Each controller reads and changes the app's state in `window.workspace` (studio.workspace, no Qt).
"""
