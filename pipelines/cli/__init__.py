"""The `bertprep` command: one thin module per subcommand (its flags, its messages, the call into its
stage), the flag and Beam-run layer they share, and the entry point (main.py)."""
