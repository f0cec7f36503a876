"""Commands that need a checkout of the repository around the package (deploy/, docs/)."""
