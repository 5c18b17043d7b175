"""One module per action family; each handler parses `data`, calls one domain function and
shapes the reply with the REST shim's serializers."""
