"""One router per noun; each route parses, calls one domain function and shapes the output."""
