"""The bodies of the simple commands (list, show, certs, render, doctor, images); the CLI only parses and calls."""
