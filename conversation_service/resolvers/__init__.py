"""The GraphQL door: thin functions from arguments to one domain call to output types."""
