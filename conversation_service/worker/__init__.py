"""The action door: nooble4 DomainActions from Redis Streams to the domain functions."""
