"""`elysiactl`: the command line on top of the domain modules and the Dagster instance."""
