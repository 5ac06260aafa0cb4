"""The streaming shell: a Faust worker that decodes, calls the core and produces. No rules here."""
