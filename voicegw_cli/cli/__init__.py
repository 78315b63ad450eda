"""The `voicegw` command: thin Typer modules over the library."""
