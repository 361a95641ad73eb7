"""One module per user action (bpy operators). Long work runs through ``runtime.job`` on a worker thread."""
