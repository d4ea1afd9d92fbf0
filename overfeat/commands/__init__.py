"""One module per ``overfeat`` sub-command (see ``overfeat.cli``)."""
