"""Built-in plugins, one package each, loaded through the ``tequio`` entry-point group like any other."""
