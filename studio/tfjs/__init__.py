"""TF.js support that is not a stage or a runtime: where its own environments live and how they are set up.

`env` answers "is TF.js ready here?" quickly and without importing a framework (the window and the CLI ask it);
`setup` is `studio setup tfjs`. The stage is studio.stages.tfjs, the runtime studio.runtimes.tfjs.
"""
