"""One module per adaptation method; each adds its own step to the shared training engine."""
